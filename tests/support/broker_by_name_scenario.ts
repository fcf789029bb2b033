/**
 * The inside of tests/bus/kafka/broker_by_name_test.ts, run in a network and mount namespace of the test's
 * own, where `10.213.7.1` sits on the namespace's loopback interface and `/etc/hosts` (bind-mounted
 * over, in that namespace only) names it `kafka.upbus.test`:
 *
 * 1. a TLS/SASL broker whose second SASL_SSL listener binds `10.213.7.1` and advertises
 *    `kafka.upbus.test`, so a client bootstrapped by address learns the name only from the
 *    cluster's metadata;
 * 2. the service under the `serve` permission set (`deno run -P=serve`), `KAFKA_BROKERS` the
 *    address, `DATA_DIR` in `/tmp`;
 * 3. one signed webhook, then the topic read back with kcat by the name.
 *
 * Prints one JSON line of findings for the test to check. Needs the namespace: outside it the name
 * does not resolve and the address is not there.
 *
 * @module
 */
import { join } from "node:path";
import { signBody } from "../../lib/webhook/signature.ts";
import { consumeWithKcat, kcatHeaders } from "./consume.ts";
import {
  SECURE_USERS,
  startSecureBroker,
  TEST_HOST_ADDRESS,
  TEST_HOST_NAME,
} from "./secure_broker.ts";
import { startServiceProcess } from "./service_process.ts";

const SPEC_EXAMPLE = new URL("../testdata/transaction_created.raw.json", import.meta.url).pathname;

async function main(): Promise<Record<string, unknown>> {
  await using broker = await startSecureBroker({
    otherAddress: { bind: TEST_HOST_ADDRESS, advertise: TEST_HOST_NAME },
  });
  const { scram512, plain } = SECURE_USERS;
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-by-name-" });
  const passwordFile = join(broker.certificates.dir, "kafka-password");
  await Deno.writeTextFile(passwordFile, `${scram512.password}\n`, { mode: 0o600 });
  const secret = "a-webhook-secret-for-the-namespace-test";
  const topic = `upbus-by-name-${crypto.randomUUID()}`;
  const kcatConfig = {
    "security.protocol": "SASL_SSL",
    "ssl.ca.location": broker.certificates.caFile,
    "sasl.mechanisms": "PLAIN",
    "sasl.username": plain.username,
    "sasl.password": plain.password,
  };
  const service = await startServiceProcess({
    KAFKA_BROKERS: broker.saslSslOtherAddress,
    KAFKA_SSL: "true",
    KAFKA_SSL_CA_FILE: broker.certificates.caFile,
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: scram512.username,
    KAFKA_SASL_PASSWORD_FILE: passwordFile,
    UP_WEBHOOK_SECRETS: secret,
    KAFKA_TOPIC: topic,
    KAFKA_TOPIC_PARTITIONS: "1",
    DATA_DIR: dataDir,
  });
  try {
    const body = await Deno.readFile(SPEC_EXAMPLE);
    const response = await fetch(`${service.url}/webhook`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-Up-Authenticity-Signature": await signBody(body, secret),
      },
      body,
    });
    const answer = await response.json();
    // What the cluster tells a client about itself: kcat -L lists the advertised broker hosts.
    const metadata = await new Deno.Command("kcat", {
      args: [
        "-L",
        "-b",
        broker.saslSslOtherAddress,
        ...Object.entries(kcatConfig).flatMap(([k, v]) => ["-X", `${k}=${v}`]),
      ],
      stdin: "null",
    }).output();
    let records: Awaited<ReturnType<typeof consumeWithKcat>> = [];
    let lastError = "";
    for (let i = 0; i < 20 && records.length === 0; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 500));
      records = await consumeWithKcat(broker.saslSslOtherAdvertised, topic, { config: kcatConfig })
        .catch((error) => {
          lastError = String(error);
          return [];
        });
    }
    return {
      bootstrap: broker.saslSslOtherAddress,
      advertised: broker.saslSslOtherAdvertised,
      status: response.status,
      eventId: answer.eventId,
      metadata: new TextDecoder().decode(metadata.stdout),
      records: records.map((record) => ({
        payloadMatches: record.payload === new TextDecoder().decode(body),
        ceId: kcatHeaders(record).ce_id,
      })),
      lastError,
      refusals: service.logs.filter((line) =>
        /NotCapable|EPERM|Requires net/.test(JSON.stringify(line))
      )
        .length,
    };
  } finally {
    await service.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await main()));
}

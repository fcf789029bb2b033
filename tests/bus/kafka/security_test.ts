/**
 * TLS and SASL against a real Apache Kafka broker (tests/support/secure_broker.ts: a CA and
 * certificates made with openssl at test time, SCRAM users added at format, PLAIN users in JAAS):
 * upbus's own client options produce and consume in a group with SCRAM-SHA-512, SCRAM-SHA-256,
 * PLAIN, OAUTHBEARER and a client certificate; each wrong setting ends in one message naming the
 * cause and the variable; the service relays a signed webhook over SASL_SSL to a broker on
 * 127.0.0.2 with DATA_DIR outside ./data under its real permission set; no secret reaches a log.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Partitioners } from "kafkajs";
import { createKafka } from "../../../lib/bus/kafka/client.ts";
import { checkKafkaConnection } from "../../../lib/bus/kafka/connection_check.ts";
import {
  type KafkaConnectionConfig,
  loadKafkaConnection,
} from "../../../lib/bus/kafka/connection_config.ts";
import { KafkaConnectionError } from "../../../lib/bus/kafka/connection_error.ts";
import { ensureTopics } from "../../../lib/bus/kafka/topics.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import { signBody } from "../../../lib/webhook/signature.ts";
import { consumeWithKcat, kcatHeaders } from "../../support/consume.ts";
import { SECURE_USERS, type SecureBroker, startSecureBroker } from "../../support/secure_broker.ts";
import { startServiceProcess } from "../../support/service_process.ts";
import { runUpbus, type UpbusProgram } from "../../support/upbus_program.ts";

const SPEC_EXAMPLE =
  new URL("../../testdata/transaction_created.raw.json", import.meta.url).pathname;

function connectionFrom(env: Record<string, string>): KafkaConnectionConfig {
  return loadKafkaConnection((name) => env[name]);
}

/** The TLS part every SASL_SSL case shares. */
function tlsEnv(broker: SecureBroker): Record<string, string> {
  return { KAFKA_SSL: "true", KAFKA_SSL_CA_FILE: broker.certificates.caFile };
}

/** Writes an owner-only secret file in the broker's certificate directory. */
async function secretFile(broker: SecureBroker, name: string, text: string): Promise<string> {
  const path = join(broker.certificates.dir, name);
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  return path;
}

/** An unsecured OAUTHBEARER token (`alg: none`), which Kafka's default validator accepts. */
function unsecuredJwt(subject: string): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: "none" })}.${part({ sub: subject, iat: now, exp: now + 3600 })}.`;
}

/** Creates a topic, produces one record idempotently and reads it back in a consumer group. */
async function roundTrip(
  brokers: string,
  connection: KafkaConnectionConfig,
  lines: string[],
): Promise<string> {
  const logger = createLogger({ level: "debug", write: (line) => lines.push(line) });
  const kafka = createKafka({ brokers: [brokers], connection, logger });
  const topic = `upbus-secure-${crypto.randomUUID()}`;
  await ensureTopics(kafka, [topic], { partitions: 1 });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const value = `hello over ${topic}`;
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: "k", value: Buffer.from(value) }] });
  } finally {
    await producer.disconnect();
  }
  const consumer = kafka.consumer({ groupId: `upbus-secure-group-${crypto.randomUUID()}` });
  await consumer.connect();
  try {
    const { promise, resolve } = Promise.withResolvers<string>();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        resolve(message.value?.toString("utf8") ?? "");
        return Promise.resolve();
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no record within 30 s")), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(read, value);
    return topic;
  } finally {
    await consumer.disconnect();
  }
}

/** Asserts that no line holds any of the secrets. */
function assertNoSecret(lines: string[], secrets: string[]): void {
  const text = lines.join("\n");
  for (const secret of secrets) assert.ok(!text.includes(secret), `a log line holds "${secret}"`);
}

const ALL_PASSWORDS = Object.values(SECURE_USERS).map((user) => user.password);

Deno.test("upbus's client options produce and consume in a group over TLS and SASL on a real broker", async (t) => {
  await using broker = await startSecureBroker();
  const lines: string[] = [];
  const { scram256, scram512, plain } = SECURE_USERS;
  const token = unsecuredJwt("upbus-oauth");

  await t.step("SASL_SSL with SCRAM-SHA-512", async () => {
    await roundTrip(
      broker.saslSsl,
      connectionFrom({
        ...tlsEnv(broker),
        KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
        KAFKA_SASL_USERNAME: scram512.username,
        KAFKA_SASL_PASSWORD: scram512.password,
      }),
      lines,
    );
  });

  await t.step(
    "SASL_SSL with SCRAM-SHA-256, the password from a file (systemd credentials)",
    async () => {
      const file = await secretFile(broker, "scram256.password", `${scram256.password}\n`);
      await roundTrip(
        broker.saslSsl,
        connectionFrom({
          ...tlsEnv(broker),
          KAFKA_SASL_MECHANISM: "scram-sha-256",
          KAFKA_SASL_USERNAME: scram256.username,
          KAFKA_SASL_PASSWORD_FILE: file,
        }),
        lines,
      );
    },
  );

  await t.step("SASL_SSL with PLAIN (Confluent Cloud's API key and secret)", async () => {
    const topic = await roundTrip(
      broker.saslSsl,
      connectionFrom({
        ...tlsEnv(broker),
        KAFKA_SASL_MECHANISM: "plain",
        KAFKA_SASL_USERNAME: plain.username,
        KAFKA_SASL_PASSWORD: plain.password,
      }),
      lines,
    );
    // librdkafka, which shares no code with upbus, reads the same record with the same settings.
    const records = await consumeWithKcat(broker.saslSsl, topic, {
      config: {
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": broker.certificates.caFile,
        "sasl.mechanisms": "PLAIN",
        "sasl.username": plain.username,
        "sasl.password": plain.password,
      },
    });
    assert.deepEqual(records.map((record) => record.payload), [`hello over ${topic}`]);
  });

  await t.step("SASL_SSL with OAUTHBEARER, the token read from its file", async () => {
    const file = await secretFile(broker, "oauth.token", `${token}\n`);
    await roundTrip(
      broker.saslSsl,
      connectionFrom({
        ...tlsEnv(broker),
        KAFKA_SASL_MECHANISM: "oauthbearer",
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file,
      }),
      lines,
    );
  });

  await t.step("SSL with a client certificate (Aiven's default)", async () => {
    await roundTrip(
      broker.ssl,
      connectionFrom({
        ...tlsEnv(broker),
        KAFKA_SSL_CERT_FILE: broker.certificates.clientCertFile,
        KAFKA_SSL_KEY_FILE: broker.certificates.clientKeyFile,
      }),
      lines,
    );
  });

  await t.step(
    "no password or token appears in any log line, kafkajs's debug lines included",
    () => {
      assert.ok(lines.length > 10, `only ${lines.length} log lines: the check would prove nothing`);
      assertNoSecret(lines, [...ALL_PASSWORDS, token]);
    },
  );

  /** Runs the startup check; returns its error. */
  async function failure(brokers: string, env: Record<string, string>) {
    const error = await checkKafkaConnection({
      brokers: [brokers],
      connection: connectionFrom(env),
    })
      .then(() => undefined, (error: unknown) => error);
    assert.ok(error instanceof KafkaConnectionError, String(error));
    assert.ok(error.message.startsWith(`Cannot connect to Kafka at ${brokers}: `), error.message);
    return error;
  }

  const wrongs: Array<[string, () => Promise<[string, Record<string, string>]>, RegExp]> = [
    [
      "a wrong SCRAM-SHA-512 password",
      () =>
        Promise.resolve([broker.saslSsl, {
          ...tlsEnv(broker),
          KAFKA_SASL_MECHANISM: "scram-sha-512",
          KAFKA_SASL_USERNAME: scram512.username,
          KAFKA_SASL_PASSWORD: "not-the-password",
        }]),
      /: authentication failed \(SCRAM-SHA-512\): check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD$/,
    ],
    [
      "a wrong PLAIN password from a file",
      async () => [broker.saslSsl, {
        ...tlsEnv(broker),
        KAFKA_SASL_MECHANISM: "plain",
        KAFKA_SASL_USERNAME: plain.username,
        KAFKA_SASL_PASSWORD_FILE: await secretFile(broker, "wrong.password", "not-it\n"),
      }],
      /: authentication failed \(PLAIN\): check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE$/,
    ],
    [
      "a CA that did not sign the broker's certificate",
      () =>
        Promise.resolve([broker.saslSsl, {
          KAFKA_SSL: "true",
          KAFKA_SSL_CA_FILE: broker.certificates.otherCaFile,
          KAFKA_SASL_MECHANISM: "scram-sha-512",
          KAFKA_SASL_USERNAME: scram512.username,
          KAFKA_SASL_PASSWORD: scram512.password,
        }]),
      /: certificate not trusted: the broker's certificate is not signed by the CA in KAFKA_SSL_CA_FILE/,
    ],
    [
      "no CA for a broker with a private CA",
      () =>
        Promise.resolve([broker.saslSsl, {
          KAFKA_SSL: "true",
          KAFKA_SASL_MECHANISM: "scram-sha-512",
          KAFKA_SASL_USERNAME: scram512.username,
          KAFKA_SASL_PASSWORD: scram512.password,
        }]),
      /: certificate not trusted: set KAFKA_SSL_CA_FILE/,
    ],
    [
      "no TLS for a SASL_SSL listener",
      () =>
        Promise.resolve([broker.saslSsl, {
          KAFKA_SASL_MECHANISM: "scram-sha-512",
          KAFKA_SASL_USERNAME: scram512.username,
          KAFKA_SASL_PASSWORD: scram512.password,
        }]),
      /: TLS required by the broker: set KAFKA_SSL=true/,
    ],
    [
      "TLS without SASL for a SASL_SSL listener",
      () => Promise.resolve([broker.saslSsl, tlsEnv(broker)]),
      /: the broker's listener wants SASL \(it offers (?:(?:PLAIN|SCRAM-SHA-256|SCRAM-SHA-512|OAUTHBEARER)(?:, |\))){4}: set KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD$/,
    ],
    [
      "nothing for a SASL_PLAINTEXT listener",
      () => Promise.resolve([broker.saslPlaintext, {}]),
      /: the broker's listener wants SASL \(it offers PLAIN\): set KAFKA_SASL_MECHANISM/,
    ],
    [
      "TLS for a listener without TLS",
      () =>
        Promise.resolve([broker.saslPlaintext, {
          ...tlsEnv(broker),
          KAFKA_SASL_MECHANISM: "plain",
          KAFKA_SASL_USERNAME: plain.username,
          KAFKA_SASL_PASSWORD: plain.password,
        }]),
      /: the broker does not speak TLS on this port: use its TLS listener's port in KAFKA_BROKERS, or set KAFKA_SSL=false$/,
    ],
    [
      "SASL for a listener without SASL",
      () =>
        Promise.resolve([broker.plaintext, {
          KAFKA_SASL_MECHANISM: "plain",
          KAFKA_SASL_USERNAME: plain.username,
          KAFKA_SASL_PASSWORD: plain.password,
        }]),
      /: the broker's listener does not use SASL: use the port of its SASL listener in KAFKA_BROKERS, or unset KAFKA_SASL_MECHANISM$/,
    ],
    [
      "a host name the broker's certificate does not name",
      () =>
        Promise.resolve([`localhost:${broker.saslSsl.split(":")[1]}`, {
          ...tlsEnv(broker),
          KAFKA_SASL_MECHANISM: "scram-sha-512",
          KAFKA_SASL_USERNAME: scram512.username,
          KAFKA_SASL_PASSWORD: scram512.password,
        }]),
      /: the broker's certificate does not name the host upbus connected to: use the host name of the certificate in KAFKA_BROKERS/,
    ],
    [
      "a mechanism the listener does not offer",
      () =>
        Promise.resolve([broker.saslPlaintext, {
          KAFKA_SASL_MECHANISM: "scram-sha-512",
          KAFKA_SASL_USERNAME: scram512.username,
          KAFKA_SASL_PASSWORD: scram512.password,
        }]),
      /: the broker does not offer SASL SCRAM-SHA-512: set KAFKA_SASL_MECHANISM to a mechanism its listener enables/,
    ],
    [
      "no client certificate for a listener that requires one",
      () => Promise.resolve([broker.ssl, tlsEnv(broker)]),
      /: the broker wants a client certificate \(set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE\)$/,
    ],
  ];
  for (const [name, setup, expected] of wrongs) {
    await t.step(`${name}: one message naming the cause and the setting`, async () => {
      const [brokers, env] = await setup();
      const error = await failure(brokers, env);
      assert.match(error.message, expected);
      assert.equal(error.fatal, true, `"${error.message}" should stop the command`);
      assertNoSecret([error.message], [...ALL_PASSWORDS, "not-the-password", "not-it"]);
    });
  }
});

function task(permissionSet: string): UpbusProgram {
  return { command: "deno", prefix: ["run", `-P=${permissionSet}`, "--no-prompt", "main.ts"] };
}

Deno.test("the service relays a signed webhook over SASL_SSL to a broker on 127.0.0.2, keeping its data outside ./data", async (t) => {
  await using broker = await startSecureBroker();
  const { scram512 } = SECURE_USERS;
  // Outside ./data and /var/lib/upbus: under the system temporary directory.
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-data-anywhere-" });
  const passwordFile = await secretFile(broker, "kafka-password", `${scram512.password}\n`);
  const secret = "a-webhook-secret-for-the-secure-test";
  const topic = `upbus-secure-e2e-${crypto.randomUUID()}`;
  const kafkaEnv = {
    KAFKA_BROKERS: broker.saslSslOtherAddress,
    ...tlsEnv(broker),
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: scram512.username,
    KAFKA_SASL_PASSWORD_FILE: passwordFile,
  };
  try {
    await t.step(
      "deno task start's permission set: stored, 200, then in Kafka byte-identical",
      async () => {
        const service = await startServiceProcess({
          ...kafkaEnv,
          UP_WEBHOOK_SECRETS: secret,
          KAFKA_TOPIC: topic,
          KAFKA_TOPIC_PARTITIONS: "1",
          DATA_DIR: dataDir,
          LOG_LEVEL: "debug",
        });
        const body = await Deno.readFile(SPEC_EXAMPLE);
        let code: number | undefined;
        try {
          const response = await fetch(`${service.url}/webhook`, {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              "X-Up-Authenticity-Signature": await signBody(body, secret),
            },
            body,
          });
          assert.equal(response.status, 200, await response.clone().text());
          const { eventId } = await response.json();
          // librdkafka reads it back as the PLAIN user: another client, another mechanism.
          let records: Awaited<ReturnType<typeof consumeWithKcat>> = [];
          let lastError: unknown;
          for (let i = 0; i < 20 && records.length === 0; i++) {
            if (i > 0) await new Promise((resolve) => setTimeout(resolve, 500));
            records = await consumeWithKcat(broker.saslSslOtherAddress, topic, {
              config: {
                "security.protocol": "SASL_SSL",
                "ssl.ca.location": broker.certificates.caFile,
                "sasl.mechanisms": "PLAIN",
                "sasl.username": SECURE_USERS.plain.username,
                "sasl.password": SECURE_USERS.plain.password,
              },
            }).catch((error) => {
              lastError = error;
              return [];
            });
          }
          assert.equal(records.length, 1, `the event is not in Kafka: ${lastError}`);
          assert.equal(records[0].payload, new TextDecoder().decode(body));
          assert.equal(kcatHeaders(records[0]).ce_id, eventId);
          const listening = service.logs.find((line) => line.msg === "listening");
          assert.equal(listening?.kafka, "SASL_SSL (SCRAM-SHA-512)");
        } finally {
          code = await service.stop();
        }
        assert.equal(code, 0);
        assert.ok((await Deno.stat(join(dataDir, "events.db"))).isFile);
        assertNoSecret(service.logs.map((line) => JSON.stringify(line)), [scram512.password]);
      },
    );

    await t.step(
      "the service with a wrong password: 200s kept, one error line, /readyz names the cause",
      async () => {
        const wrongDataDir = await Deno.makeTempDir({ prefix: "upbus-wrong-password-" });
        const service = await startServiceProcess({
          ...kafkaEnv,
          KAFKA_SASL_PASSWORD_FILE: await secretFile(broker, "wrong", "not-the-password\n"),
          UP_WEBHOOK_SECRETS: secret,
          KAFKA_TOPIC: topic,
          DATA_DIR: wrongDataDir,
        });
        try {
          const body = await Deno.readFile(SPEC_EXAMPLE);
          const response = await fetch(`${service.url}/webhook`, {
            method: "POST",
            headers: { "X-Up-Authenticity-Signature": await signBody(body, secret) },
            body,
          });
          assert.equal(response.status, 200, "kept in the store while Kafka refuses us");
          await response.body?.cancel();
          let kafka = "";
          for (let i = 0; i < 60 && !kafka.startsWith("unreachable"); i++) {
            await new Promise((resolve) => setTimeout(resolve, 250));
            const readyz = await fetch(`${service.url}/readyz`);
            assert.equal(readyz.status === 200, false);
            kafka = (await readyz.json()).checks.kafka;
          }
          assert.match(kafka, /^unreachable since \S+: authentication failed \(SCRAM-SHA-512\)/);
          assert.match(kafka, /KAFKA_SASL_PASSWORD/);
          await new Promise((resolve) => setTimeout(resolve, 3000)); // more attempts, no more lines
          const errors = service.logs.filter((line) => line.level === "error");
          assert.equal(errors.length, 1, JSON.stringify(errors));
          assert.match(String(errors[0].msg), /authentication failed \(SCRAM-SHA-512\)/);
          assertNoSecret(service.logs.map((line) => JSON.stringify(line)), ["not-the-password"]);
        } finally {
          await service.stop();
          await Deno.remove(wrongDataDir, { recursive: true });
        }
      },
    );

    await t.step(
      "enrich with a wrong password: exits 1 with one line naming the cause",
      async () => {
        const run = await runUpbus(task("enrich"), ["enrich"], {
          env: {
            ...kafkaEnv,
            KAFKA_SASL_PASSWORD_FILE: await secretFile(broker, "bad", "a-wrong-password\n"),
            UP_API_TOKEN: "up:yeah:not-used",
            UP_API_BASE: "http://127.0.0.1:9/api/v1",
            DATA_DIR: dataDir,
          },
        });
        assert.equal(run.code, 1, run.stderr);
        const lines = run.stderr.split("\n").filter((line) => line.includes("authentication"));
        assert.deepEqual(lines, [
          `upbus enrich: Cannot connect to Kafka at ${broker.saslSslOtherAddress}: authentication failed (SCRAM-SHA-512): check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE`,
        ]);
        assert.doesNotMatch(run.stderr, /kafkajs|--allow|a-wrong-password/);
      },
    );

    await t.step(
      "consume with an untrusted CA: exits 1 with one line naming KAFKA_SSL_CA_FILE",
      async () => {
        const run = await runUpbus(task("consume"), ["consume", "console"], {
          env: {
            ...kafkaEnv,
            KAFKA_SSL_CA_FILE: broker.certificates.otherCaFile,
            DATA_DIR: dataDir,
          },
        });
        assert.equal(run.code, 1, run.stderr);
        assert.match(
          run.stderr,
          /^upbus consume: Cannot connect to Kafka at 127\.0\.0\.2:\d+: certificate not trusted: .*KAFKA_SSL_CA_FILE/m,
        );
        assert.doesNotMatch(run.stderr, /kafkajs|--allow/);
      },
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

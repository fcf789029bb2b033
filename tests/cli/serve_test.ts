import assert from "node:assert/strict";
import { loadConfig } from "../../lib/service/config.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { startService } from "../../lib/service/service.ts";
import { consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { serviceDataDir, startServiceProcess } from "../support/service_process.ts";

const SPEC_EXAMPLE = new URL("../testdata/transaction_created.raw.json", import.meta.url).pathname;
const SECRET = "an-up-webhook-secret";

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

/** POSTs a file with curl; returns the status code and body. */
async function curl(url: string, file: string, headers: string[] = []): Promise<[number, string]> {
  const out = await run("curl", [
    "-s",
    "-X",
    "POST",
    url,
    "-H",
    "Content-Type: application/json",
    ...headers.flatMap((header) => ["-H", header]),
    "--data-binary",
    `@${file}`,
    "-w",
    "\n%{http_code}",
  ]);
  const cut = out.lastIndexOf("\n");
  return [Number(out.slice(cut + 1)), out.slice(0, cut)];
}

Deno.test("the spec's example, signed with openssl and posted with curl, lands in Kafka byte-identical", async () => {
  const brokers = await testBrokers();
  const topic = `upbus-e2e-${crypto.randomUUID()}`;
  const dataDir = await serviceDataDir();
  const service = await startServiceProcess({
    UP_WEBHOOK_SECRETS: `old-secret,${SECRET}`,
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: topic,
    DATA_DIR: dataDir,
  });
  try {
    const signature = (await run("openssl", ["dgst", "-sha256", "-hmac", SECRET, SPEC_EXAMPLE]))
      .trim().split(" ").at(-1)!;
    const forged = (await run("openssl", ["dgst", "-sha256", "-hmac", "guess", SPEC_EXAMPLE]))
      .trim().split(" ").at(-1)!;
    const webhook = `${service.url}/webhook`;

    const [status, body] = await curl(webhook, SPEC_EXAMPLE, [
      `X-Up-Authenticity-Signature: ${signature}`,
    ]);
    assert.equal(status, 200, body);
    assert.equal(JSON.parse(body).status, "stored");
    for (
      const [headers, expected] of [
        [[`X-Up-Authenticity-Signature: ${forged}`], 401],
        [[], 401],
        [["X-Up-Authenticity-Signature: nope"], 401],
      ] as const
    ) {
      const [refused, answer] = await curl(webhook, SPEC_EXAMPLE, [...headers]);
      assert.equal(refused, expected);
      assert.match(JSON.parse(answer).error.message, /^Cannot verify webhook/);
    }

    let records: Awaited<ReturnType<typeof consumeWithKcat>> = [];
    for (let i = 0; i < 300 && records.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      records = await consumeWithKcat(brokers, topic).catch(() => []);
    }
    assert.equal(records.length, 1, "one record: refused requests publish nothing");
    const sent = await Deno.readTextFile(SPEC_EXAMPLE);
    assert.equal(records[0].payload, sent);
    assert.equal(records[0].key, "169c1684-45c7-41c1-95fa-97082b319e6c");
    assert.equal(kcatHeaders(records[0]).up_signature, signature);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    assert.match(metrics, /^upbus_events_published_total 1$/m);
    assert.match(metrics, /^upbus_webhooks_rejected_total\{reason="mismatch"\} 1$/m);
    const ready = await fetch(`${service.url}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  } finally {
    assert.equal(await service.stop(), 0, "SIGTERM is a clean exit");
    await Deno.remove(dataDir, { recursive: true });
  }
  const lines = JSON.stringify(service.logs);
  assert.ok(!lines.includes(SECRET), "no secret in any log line");
  assert.ok(service.logs.some((line) => line.msg === "stopped"));
});

Deno.test("with OPS_PORT, the public listener serves /webhook only and the private one the rest", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-ops-" });
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    PORT: "0",
    OPS_PORT: "0",
    UP_WEBHOOK_SECRETS: SECRET,
    DATA_DIR: dataDir,
  };
  const service = await startService(loadConfig((name) => env[name]), {
    logger: createLogger({ write: () => {} }),
  });
  try {
    assert.ok(service.opsAddress, "a second listener");
    const publicUrl = `http://127.0.0.1:${service.address.port}`;
    const opsUrl = `http://127.0.0.1:${service.opsAddress.port}`;
    for (const path of ["/metrics", "/readyz", "/healthz"]) {
      const hidden = await fetch(`${publicUrl}${path}`);
      assert.equal(hidden.status, 404, `${path} is not public`);
      await hidden.body?.cancel();
      const shown = await fetch(`${opsUrl}${path}`);
      assert.equal(shown.status, 200, `${path} on the operations listener`);
      await shown.body?.cancel();
    }
    const notHere = await fetch(`${opsUrl}/webhook`, { method: "POST", body: "{}" });
    assert.equal(notHere.status, 404);
    await notHere.body?.cancel();
    const webhook = await fetch(`${publicUrl}/webhook`, { method: "POST", body: "{}" });
    assert.equal(webhook.status, 401, "the webhook route answers on the public listener");
    await webhook.body?.cancel();
  } finally {
    await service.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

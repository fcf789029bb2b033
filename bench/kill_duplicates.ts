/**
 * Duplicates at the source: how many records the events topic holds twice after the service is
 * killed with -9 under load, and that nothing answered `200` is missing. The real `serve` (its
 * own process, with Kafka) takes signed webhooks from 16 concurrent senders; every `--every`
 * seconds it is killed with -9 and started again on the same port; at the end the topic is read
 * back with kcat (an independent client) and compared with the event ids that got a `200`.
 *
 * Usage: deno run -A bench/kill_duplicates.ts [--kills 5] [--every 3] [--brokers 127.0.0.1:9092]
 * Start a broker first: `deno task kafka start`.
 *
 * @module
 */
import { benchWebhookBody } from "./webhook_body.ts";
import { parseArgs } from "node:util";
import { signBody } from "../lib/webhook/signature.ts";
import { consumeWithKcat, kcatHeaders } from "../tests/support/consume.ts";

const SECRET = "bench-secret";
const { values } = parseArgs({
  args: Deno.args,
  options: {
    kills: { type: "string", default: "5" },
    every: { type: "string", default: "3" },
    brokers: { type: "string", default: "127.0.0.1:9092" },
    port: { type: "string", default: "18590" },
    senders: { type: "string", default: "16" },
  },
});
const kills = Number(values.kills);
const port = Number(values.port);
const run = crypto.randomUUID().slice(0, 8);
const topic = `bench-kill-${run}`;
const dataDir = await Deno.makeTempDir({ prefix: "upbus-bench-kill-" });
const env = {
  HOME: Deno.env.get("HOME") ?? "/tmp",
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  DATA_DIR: dataDir,
  HOST: "127.0.0.1",
  PORT: String(port),
  OPS_PORT: String(port + 1),
  UP_WEBHOOK_SECRETS: SECRET,
  KAFKA_BROKERS: values.brokers!,
  KAFKA_TOPIC: topic,
  KAFKA_TOPIC_PARTITIONS: "3",
  KAFKA_REPLICATION_FACTOR: "1",
  LOG_LEVEL: "error",
};

function spawnServe(): Deno.ChildProcess {
  return new Deno.Command("deno", {
    args: ["run", "-q", "-P=serve", "--no-prompt", "main.ts", "serve"],
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function ready(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port + 1}/readyz`);
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch { /* not yet */ }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("serve was not ready within 30 s");
}

let sequence = 0;
async function send(accepted: Set<string>): Promise<void> {
  const id = `${run}-${sequence++}`;
  const transaction = `tx-${id}`;
  const body = benchWebhookBody(id, transaction);
  try {
    const response = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "X-Up-Authenticity-Signature": await signBody(body, SECRET),
      },
      body,
    });
    await response.body?.cancel();
    if (response.status === 200) accepted.add(id);
  } catch {
    // Killed mid-request: no 200, so Up would send it again; it is not counted as accepted.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const accepted = new Set<string>();
let serve = spawnServe();
await ready();
let sending = true;
const senders = Array.from({ length: Number(values.senders) }, async () => {
  while (sending) await send(accepted);
});
for (let kill = 0; kill < kills; kill++) {
  await new Promise((resolve) => setTimeout(resolve, Number(values.every) * 1000));
  serve.kill("SIGKILL");
  await serve.status;
  serve = spawnServe();
  await ready();
}
await new Promise((resolve) => setTimeout(resolve, 1000));
sending = false;
await Promise.all(senders);
// Until the relay has published every stored event.
for (let i = 0; i < 600; i++) {
  const metrics = await (await fetch(`http://127.0.0.1:${port + 1}/metrics`)).text();
  const backlog = /^upbus_relay_backlog(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1];
  if (backlog === "0") break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
serve.kill("SIGTERM");
await serve.status;

const records = await consumeWithKcat(values.brokers!, topic);
const ids = records.map((record) => kcatHeaders(record).ce_id);
const distinct = new Set(ids);
const missing = [...accepted].filter((id) => !distinct.has(id)).length;
const duplicates = ids.length - distinct.size;
console.log(
  `kill -9 x${kills} under load (${values.senders} senders): accepted ${accepted.size}, ` +
    `records ${ids.length}, distinct ${distinct.size}, duplicates ${duplicates} ` +
    `(${(duplicates / kills).toFixed(1)} per kill, ${
      (100 * duplicates / ids.length).toFixed(2)
    } %), ` +
    `missing ${missing}`,
);
await Deno.remove(dataDir, { recursive: true });
if (missing > 0) Deno.exit(1);

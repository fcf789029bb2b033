/**
 * Benchmark: from the webhook's `200` to the new state on the MQTT broker, with the commands a
 * user runs, each its own process: `serve`, `enrich` and `consume mqtt` (`deno run -P=<set>
 * main.ts ...`), an Up simulator in this process that delivers signed webhooks to `serve`, and a
 * real Mosquitto (Debian's `mosquitto`). For each purchase it notes when `serve` answered the
 * delivery `200` (the simulator's fetch) and when an MQTT subscriber here received the account's
 * new last transaction, published with its new state in the same turn; then prints p50, p90,
 * p99 and max over `--count` purchases, and the `consume mqtt` process's resident memory.
 * Embedded mode by default; `--kafka HOST:PORT` runs the same through Kafka (fresh topics),
 * `--kafka test` through the tests' shared broker.
 *
 * Usage: deno run --allow-run=deno,mosquitto,python3 --allow-net=127.0.0.1 --allow-read
 *          --allow-write=./data,./.kafka,/tmp --allow-env bench/mqtt_latency.ts [--count 100]
 *          [--kafka HOST:PORT | --kafka test]   (test: add java,mvn to --allow-run)
 *
 * @module
 */
import { parseArgs } from "node:util";
import mqtt from "../lib/consumers/mqtt/mqtt_js.ts";
import { createSimulatorControl } from "../lib/up_sim/control.ts";
import { serveUpSimulator } from "../lib/up_sim/server.ts";
import { testBrokers } from "../tests/support/kafka.ts";
import { startMosquitto } from "../tests/support/mosquitto.ts";
import { type RunningUpbus, startUpbus } from "../tests/support/upbus_program.ts";
import { sampleProcess } from "./proc_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { count: { type: "string", default: "100" }, kafka: { type: "string" } },
});
const count = Number(values.count);
// `--kafka test`: the tests' shared broker (started when it is not running).
const kafka = values.kafka === "test" ? await testBrokers() : values.kafka;

const answered = new Map<string, number>();
const sim = serveUpSimulator({
  port: 0,
  seedTransactions: 5,
  retryDelaysMs: [1000],
  async fetch(input, init) {
    const response = await fetch(input, init);
    const at = performance.now();
    if (response.status === 200 && typeof init?.body === "string") {
      const id = JSON.parse(init.body).data?.relationships?.transaction?.data?.id;
      if (id) answered.set(id, at);
    }
    return response;
  },
});
const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus bench");
const broker = await startMosquitto();
const dataDir = `${new URL("..", import.meta.url).pathname}data/bench-mqtt-${crypto.randomUUID()}`;
await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
const run = (set: string) => ({
  command: "deno",
  prefix: ["run", `-P=${set}`, "--no-prompt", "main.ts"],
});
const id = crypto.randomUUID().slice(0, 8);
const env: Record<string, string> = {
  DATA_DIR: dataDir,
  LOG_FORMAT: "json",
  LOG_LEVEL: "warn",
  UP_API_BASE: sim.baseUrl,
  UP_API_TOKEN: sim.token,
  UP_WEBHOOK_SECRETS: webhook.secretKey,
  MQTT_URL: broker.url,
  ...(kafka
    ? {
      KAFKA_BROKERS: kafka,
      KAFKA_TOPIC: `bench-${id}.events`,
      TRANSACTIONS_TOPIC: `bench-${id}.transactions`,
    }
    : {}),
};
const children: RunningUpbus[] = [];
try {
  const [serve, url] = await startUpbus(run("serve"), ["serve"], {
    env: { ...env, HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info" },
    ready: (_line, log) => log?.msg === "listening" ? String(log.url) : undefined,
  });
  children.push(serve);
  webhook.url = url;
  const [enrich] = await startUpbus(run("enrich"), ["enrich"], {
    env: { ...env, LOG_LEVEL: "info" },
    ready: (_line, log) => log?.msg === "enricher running" ? true : undefined,
  });
  children.push(enrich);
  const [consumer] = await startUpbus(run("consume"), ["consume", "mqtt"], {
    env: { ...env, LOG_LEVEL: "info" },
    ready: (_line, log) => log?.msg === "devices announced to Home Assistant" ? true : undefined,
    timeoutMs: 120_000,
  });
  children.push(consumer);
  const pid = consumer.pid;

  const arrived = new Map<string, number>();
  const client = await mqtt.connectAsync(broker.url);
  client.on("message", (topic, payload) => {
    if (!topic.endsWith("/last_transaction")) return;
    const at = performance.now();
    const description = JSON.parse(payload.toString()).description as string;
    if (!arrived.has(description)) arrived.set(description, at);
  });
  await client.subscribeAsync("upbus/account/+/last_transaction", { qos: 1 });

  const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
  const latencies: number[] = [];
  for (let i = 0; i <= count; i++) {
    const description = `Bench Cafe ${i} ${crypto.randomUUID().slice(0, 6)}`;
    const created = await control.createTransaction({ amount: "-4.20", description });
    const deadline = Date.now() + 30_000;
    while ((!arrived.has(description) || !answered.has(created.id)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if (!arrived.has(description)) throw new Error(`purchase ${i} never reached the broker`);
    // The first one warms every process up: not counted.
    if (i > 0) latencies.push(arrived.get(description)! - answered.get(created.id)!);
    // Spread the purchases over the poll phases.
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 300));
  }
  const memory = pid === undefined ? undefined : await sampleProcess(pid);
  await client.endAsync();

  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(0);
  console.log(
    `webhook 200 -> MQTT state (${kafka ? "Kafka" : "embedded"} mode), ${count} purchases: ` +
      `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, max ${
        latencies.at(-1)!.toFixed(0)
      } ms`,
  );
  if (memory) {
    console.log(
      `consume mqtt: RSS ${(memory.rss / 2 ** 20).toFixed(1)} MiB, peak ${
        (memory.peakRss / 2 ** 20).toFixed(1)
      } MiB, ${memory.cpuSeconds.toFixed(2)} CPU s`,
    );
  }
} finally {
  for (const child of children.reverse()) await child.stop("SIGTERM");
  await sim.shutdown();
  await broker.close();
  await Deno.remove(dataDir, { recursive: true });
}

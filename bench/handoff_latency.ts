/**
 * Benchmark: issue 21.2's hand-off figure. From the webhook's `200` to the notification target's
 * receipt, and to the dashboard's update, with the commands a user runs: `serve`, `enrich`,
 * `consume notify` and `consume position` each as its own process (`--one-process`: `upbus run
 * --stages enrich,position,notify` instead), an Up simulator in this process that delivers signed
 * webhooks, a local ntfy-shaped target, and the dashboard's Server-Sent Events stream read here.
 * Purchases arrive at a steady rate (`--rate`, 5 a second by default, not waiting for the one
 * before), each notified by a rule on new purchases; for each it notes when `serve` answered the
 * delivery `200` of its TRANSACTION_CREATED and when the target and the dashboard got it, then
 * prints p50, p90, p99 and max of both, beside the targets (p50 ≤ 20 ms, p99 ≤ 100 ms).
 * Embedded mode by default; `--kafka HOST:PORT` through Kafka (fresh topics), `--kafka test`
 * through the tests' shared broker.
 *
 * Usage: deno run --allow-run=deno,python3,java,mvn --allow-net=127.0.0.1 --allow-read
 *          --allow-write=./data,./.kafka,/tmp,$HOME/.cache/upbus --allow-env
 *          bench/handoff_latency.ts [--count 200] [--rate 5] [--one-process]
 *          [--kafka HOST:PORT | --kafka test]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createSimulatorControl } from "../lib/up_sim/control.ts";
import { serveUpSimulator } from "../lib/up_sim/server.ts";
import { testBrokers } from "../tests/support/kafka.ts";
import { serveLocalTargets } from "../tests/support/notify_targets.ts";
import { type RunningUpbus, startUpbus } from "../tests/support/upbus_program.ts";
import { openDashboardStream } from "./dashboard_latency.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "200" },
    rate: { type: "string", default: "5" },
    kafka: { type: "string" },
    "one-process": { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const intervalMs = 1000 / Number(values.rate);
const kafka = values.kafka === "test" ? await testBrokers() : values.kafka;
const oneProcess = values["one-process"];

/** When serve answered `200` to the delivery of each transaction's CREATED event. */
const createdAnswered = new Map<string, number>();
const sim = serveUpSimulator({
  port: 0,
  seedTransactions: 5,
  retryDelaysMs: [1000],
  async fetch(input, init) {
    const response = await fetch(input, init);
    const at = performance.now();
    if (response.status === 200 && typeof init?.body === "string") {
      const data = JSON.parse(init.body).data;
      const id = data?.relationships?.transaction?.data?.id;
      if (id && data?.attributes?.eventType === "TRANSACTION_CREATED") createdAnswered.set(id, at);
    }
    return response;
  },
});
const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus bench");
const targets = serveLocalTargets({
  webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  telegramToken: "1:x",
  discord: { id: "1", token: "x" },
});
const dataDir = `${
  new URL("..", import.meta.url).pathname
}data/bench-handoff-${crypto.randomUUID()}`;
await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
await Deno.writeTextFile(
  `${dataDir}/notify.yaml`,
  `targets:
  phone: { type: ntfy, url: "${targets.url}/ntfy", topic: bench, rate_per_minute: 60000 }
rules:
  - name: purchase
    on: [created]
    match: { direction: out }
    notify:
      - target: phone
        message: "{{description}}"
`,
);
const run = (set: string) => ({
  command: "deno",
  prefix: ["run", `-P=${set}`, "--no-prompt", "main.ts"],
});
const id = crypto.randomUUID().slice(0, 8);
const env: Record<string, string> = {
  DATA_DIR: dataDir,
  LOG_FORMAT: "json",
  LOG_LEVEL: "info",
  UP_API_BASE: sim.baseUrl,
  UP_API_TOKEN: sim.token,
  UP_WEBHOOK_SECRETS: webhook.secretKey,
  NOTIFY_RULES: `${dataDir}/notify.yaml`,
  DASHBOARD_HOST: "127.0.0.1",
  DASHBOARD_PORT: "0",
  ...(kafka
    ? {
      KAFKA_BROKERS: kafka,
      KAFKA_TOPIC: `bench-${id}.events`,
      TRANSACTIONS_TOPIC: `bench-${id}.transactions`,
      CONSUMER_GROUP_PREFIX: `bench-${id}`,
    }
    : {}),
};
const children: RunningUpbus[] = [];
/** Starts a command and waits for the log line `message`; returns what `value` takes from it. */
async function start<T>(
  set: string,
  args: string[],
  ready: (log: Record<string, unknown>) => T | undefined,
): Promise<T> {
  const [child, value] = await startUpbus(run(set), args, {
    env: { ...env, HOST: "127.0.0.1", PORT: "0" },
    ready: (_line, log) => log === undefined ? undefined : ready(log),
    timeoutMs: 120_000,
  });
  children.push(child);
  return value;
}

try {
  let dashboardUrl: string;
  if (oneProcess) {
    const urls: { webhook?: string; dashboard?: string } = {};
    await start("run", ["run", "--stages", "enrich,position,notify"], (log) => {
      if (log.msg === "dashboard listening") urls.dashboard = String(log.url);
      if (log.msg === "every stage running") urls.webhook = String(log.webhook);
      return urls.webhook && urls.dashboard ? true : undefined;
    });
    webhook.url = urls.webhook!;
    dashboardUrl = urls.dashboard!;
  } else {
    webhook.url = await start(
      "serve",
      ["serve"],
      (log) => log.msg === "listening" ? String(log.url) : undefined,
    );
    await start("enrich", ["enrich"], (log) => log.msg === "enricher running" ? true : undefined);
    await start(
      "consume",
      ["consume", "notify"],
      (log) => log.msg === "consumer running" ? true : undefined,
    );
    dashboardUrl = await start(
      "consume",
      ["consume", "position"],
      (log) => log.msg === "dashboard listening" ? String(log.url) : undefined,
    );
  }
  const stream = await openDashboardStream(
    dashboardUrl.endsWith("/") ? dashboardUrl : `${dashboardUrl}/`,
  );
  const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });

  /** One purchase, settled at once: resolves with its two hand-off times, in ms. */
  const purchase = async (i: number): Promise<{ notify: number; dashboard: number }> => {
    const description = `Handoff Cafe ${i} ${crypto.randomUUID().slice(0, 6)}`;
    const created = await control.createTransaction({ amount: "-4.20", description });
    const onDashboard = stream.seen(`${description}`, 60_000);
    const deadline = Date.now() + 60_000;
    let received: number | undefined;
    while (Date.now() < deadline) {
      const hit = targets.received.find((r) => JSON.stringify(r.body).includes(description));
      if (hit && createdAnswered.has(created.id)) {
        received = hit.at;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (received === undefined) throw new Error(`purchase ${i}: no notification within 60 s`);
    const dashboardAt = await onDashboard;
    const answered = createdAnswered.get(created.id)!;
    // The target notes Date.now(), the answer performance.now(): both clocks of this process.
    const notifyAt = received - (Date.now() - performance.now());
    return { notify: notifyAt - answered, dashboard: dashboardAt - answered };
  };

  // The first one warms every process up: not counted.
  await purchase(-1);
  const started = performance.now();
  const pending: Promise<{ notify: number; dashboard: number }>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + i * intervalMs;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    pending.push(purchase(i));
  }
  const results = await Promise.all(pending);
  await stream.close();

  const summary = (name: string, list: number[]) => {
    list.sort((a, b) => a - b);
    const at = (q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))];
    const p50 = at(0.5);
    const p99 = at(0.99);
    console.log(
      `${name.padEnd(28)} p50 ${p50.toFixed(0).padStart(4)} ms, p90 ${
        at(0.9).toFixed(0).padStart(4)
      } ms, p99 ${p99.toFixed(0).padStart(4)} ms, max ${list.at(-1)!.toFixed(0).padStart(4)} ms ${
        p50 <= 20 && p99 <= 100 ? "(target met)" : "(target: p50 ≤ 20, p99 ≤ 100)"
      }`,
    );
  };
  console.log(
    `${kafka ? "Kafka" : "embedded"} mode, ${
      oneProcess ? "one process (upbus run)" : "serve, enrich, notify, position as processes"
    }, ${count} purchases at ${values.rate}/s:`,
  );
  summary("200 -> notification target", results.map((r) => r.notify));
  summary("200 -> dashboard", results.map((r) => r.dashboard));
} finally {
  for (const child of children.reverse()) await child.stop("SIGTERM");
  await sim.shutdown();
  await targets.close();
  await Deno.remove(dataDir, { recursive: true });
}

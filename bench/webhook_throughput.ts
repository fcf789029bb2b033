/**
 * Benchmark: N signed webhook requests at concurrency C against the real upbus service (its
 * own process, with a real broker), beside the same load against a bare Hono + HMAC endpoint
 * that stores nothing (the ceiling). Prints accepted requests/s, p50/p99 latency, the time until
 * every event is acknowledged by Kafka, and the ratio to the ceiling.
 *
 * Usage: deno task bench [--requests 5000] [--concurrency 32] [--brokers 127.0.0.1:9092]
 *        [--embedded]  (no Kafka: the store only) [--rounds 3]
 *        [--seed-requests 300]  (also the origin document's listener, ../shared/baselines;
 *                                needs python3 with flask and kafka-python)
 * Start a broker first: `deno task kafka start`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createKafka } from "../lib/kafka/client.ts";
import { ensureTopics } from "../lib/kafka/topics.ts";
import { signBody } from "../lib/signature.ts";

const SECRET = "bench-secret";
const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "32" },
    brokers: { type: "string", default: "127.0.0.1:9092" },
    embedded: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    "seed-requests": { type: "string", default: "0" },
  },
});
const total = Number(values.requests);
/** `--embedded` benchmarks embedded mode: the store only, no Kafka. */
const embedded = values.embedded!;
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
/** `--seed-requests N` also drives N requests at the origin document's Flask listener. */
const seedRequests = embedded ? 0 : Number(values["seed-requests"]);

interface RunResult {
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function bodies(
  prefix: string,
  count: number,
): Promise<Array<{ body: string; signature: string }>> {
  const api = "https://api.up.com.au/api/v1";
  return await Promise.all(Array.from({ length: count }, async (_, i) => {
    const transaction = `tx-${i % 500}`;
    const body = JSON.stringify({
      data: {
        type: "webhook-events",
        id: `${prefix}-${i}`,
        attributes: { eventType: "TRANSACTION_CREATED", createdAt: new Date().toISOString() },
        relationships: {
          webhook: {
            data: { type: "webhooks", id: "bench" },
            links: { related: `${api}/webhooks/bench` },
          },
          transaction: {
            data: { type: "transactions", id: transaction },
            links: { related: `${api}/transactions/${transaction}` },
          },
        },
      },
    });
    return { body, signature: await signBody(body, SECRET) };
  }));
}

async function drive(url: string, prefix: string, count = total): Promise<RunResult> {
  const requests = await bodies(prefix, count);
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests.length) {
      const { body, signature } = requests[next++];
      const sent = performance.now();
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Up-Authenticity-Signature": signature },
        body,
      });
      await response.body?.cancel();
      latencies.push(performance.now() - sent);
      if (response.status !== 200) failures++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    seconds,
    perSecond: count / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    failures,
  };
}

async function waitReady(url: string, init?: RequestInit): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const response = await fetch(url, init);
      await response.body?.cancel();
      // Any answer means it listens (the origin listener answers 403 to an unsigned POST).
      if (response.ok || init !== undefined) return;
    } catch { /* not up yet */ }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Cannot benchmark: ${url} never became ready`);
}

async function publishedCount(): Promise<number> {
  const text = await (await fetch("http://127.0.0.1:18480/metrics")).text();
  return Number(/^upbus_events_published_total (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Waits until Kafka acknowledged `count` events in all (returns at once in embedded mode). */
async function waitPublished(count: number): Promise<void> {
  while (!embedded && await publishedCount() < count) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function spawn(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command("deno", {
    args,
    env,
    stdout: "null",
    stderr: "null",
    cwd: new URL("..", import.meta.url).pathname,
  }).spawn();
}

// Under ./data: the one place the service's permission set lets it write.
const dataDir = new URL(`../data/bench-${Date.now()}`, import.meta.url).pathname;
await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
const topic = `upbus-bench-${Date.now()}`;
const service = spawn(["run", "-P=serve", "main.ts", "serve"], {
  PORT: "18480",
  HOST: "127.0.0.1",
  DATA_DIR: dataDir,
  UP_WEBHOOK_SECRETS: SECRET,
  ...(embedded ? {} : { KAFKA_BROKERS: values.brokers! }),
  KAFKA_TOPIC: topic,
  LOG_LEVEL: Deno.env.get("BENCH_LOG_LEVEL") ?? "info",
});
const ceiling = spawn(
  ["run", "--allow-net=127.0.0.1", "--allow-env=PORT,SECRET", "bench/ceiling_server.ts"],
  { PORT: "18490", SECRET },
);
const seedTopic = `seed-bench-${Date.now()}`;
let seed: Deno.ChildProcess | undefined;
if (seedRequests > 0) {
  // kafka-python cannot create topics here (the dev broker does not auto-create them).
  const kafka = createKafka({ brokers: [values.brokers!] });
  await ensureTopics(kafka, [seedTopic], { partitions: 3 });
  seed = new Deno.Command("python3", {
    args: [new URL("../../shared/baselines/seed_listener.py", import.meta.url).pathname],
    env: {
      SEED_KEY: SECRET,
      SEED_KHOST: values.brokers!,
      SEED_KTOPIC: seedTopic,
      SEED_PORT: "18495",
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
}
try {
  await waitReady("http://127.0.0.1:18480/readyz");
  await waitReady("http://127.0.0.1:18490/healthz");
  // Warm both up so JIT and connection pools do not count against either, then alternate
  // rounds so that the machine's noise falls on both alike; report each side's median round.
  await drive("http://127.0.0.1:18490/webhook", "warm-ceiling");
  await drive("http://127.0.0.1:18480/webhook", "warm-upbus");
  await waitPublished(total);
  const ceilingRuns: RunResult[] = [];
  const upbusRuns: RunResult[] = [];
  const drainTimes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    ceilingRuns.push(await drive("http://127.0.0.1:18490/webhook", `ceiling-${round}`));
    const started = performance.now();
    const run = await drive("http://127.0.0.1:18480/webhook", `upbus-${round}`);
    upbusRuns.push(run);
    await waitPublished(total * (round + 2) - run.failures);
    drainTimes.push((performance.now() - started) / 1000);
  }
  const median = <T>(items: T[], by: (item: T) => number): T =>
    [...items].sort((a, b) => by(a) - by(b))[Math.floor(items.length / 2)];
  const ceilingRun = median(ceilingRuns, (r) => r.perSecond);
  const upbusRun = median(upbusRuns, (r) => r.perSecond);
  const allInKafka = median(drainTimes, (t) => t);

  const row = (name: string, r: RunResult) =>
    `${name.padEnd(28)} ${r.perSecond.toFixed(0).padStart(8)} req/s  p50 ${
      r.p50.toFixed(2).padStart(6)
    } ms  p99 ${r.p99.toFixed(2).padStart(6)} ms  non-200: ${r.failures}`;
  console.log(
    `${total} signed requests, concurrency ${concurrency}; median of ${rounds} alternating rounds`,
  );
  console.log(row("ceiling (Hono + HMAC only)", ceilingRun));
  console.log(row(embedded ? "upbus (embedded: store only)" : "upbus (store + Kafka)", upbusRun));
  if (!embedded) {
    console.log(
      `all ${total} events acknowledged by Kafka ${
        allInKafka.toFixed(2)
      } s after the first request`,
    );
  }
  console.log(
    `ratio to ceiling: ${(upbusRun.perSecond / ceilingRun.perSecond).toFixed(2)} (throughput), ${
      (upbusRun.p99 / ceilingRun.p99).toFixed(2)
    }x (p99 latency)`,
  );
  if (seed !== undefined) {
    await waitReady("http://127.0.0.1:18495/", { method: "POST" });
    const seedRun = await drive("http://127.0.0.1:18495/", "seed", seedRequests);
    console.log(row(`origin listener (${seedRequests} req)`, seedRun));
    console.log(
      `upbus / origin listener: ${(upbusRun.perSecond / seedRun.perSecond).toFixed(1)}x ` +
        "the throughput (the origin keeps nothing and builds a Kafka producer per request)",
    );
  }
} finally {
  seed?.kill("SIGTERM");
  await seed?.status;
  service.kill("SIGTERM");
  ceiling.kill("SIGTERM");
  await service.status;
  await ceiling.status;
  await Deno.remove(dataDir, { recursive: true });
}

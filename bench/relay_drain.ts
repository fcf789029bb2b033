/**
 * The relay alone: N events stored first (in this process, through the event store's writer),
 * then the relay started on them as the service starts it (its own worker, its own connection
 * and Kafka client) and timed until it has published them all. Prints the relay worker's CPU per
 * event (from /proc, bench/proc_stats.ts) and events published per second, for each round.
 *
 * Usage: deno task bench:relay --brokers 127.0.0.1:9092 [--events 20000] [--rounds 3]
 *        [--batch-size 500]
 *
 * @module
 */
import { benchWebhookBody } from "./webhook_body.ts";
import { parseArgs } from "node:util";
import { createLogger } from "../lib/runtime/log.ts";
import { createMetrics } from "../lib/runtime/metrics.ts";
import { startRelayThread } from "../lib/relay/relay_thread.ts";
import { openEventStore } from "../lib/store/event_store.ts";
import type { NewEvent } from "../lib/store/types.ts";
import { cpuByThread, sampleProcess } from "./proc_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    brokers: { type: "string" },
    events: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    "batch-size": { type: "string", default: "500" },
  },
});
if (values.brokers === undefined) {
  console.error("bench: --brokers HOST:PORT is required (deno task kafka start, then its port)");
  Deno.exit(2);
}
const count = Number(values.events);
const root = new URL("..", import.meta.url).pathname;

/** An event like Up's TRANSACTION_CREATED, about 600 bytes, as the wrk bench sends. */
function event(prefix: string, i: number): NewEvent {
  const transaction = `tx-${i % 500}`;
  const id = `${prefix}-${i}`;
  const body = benchWebhookBody(id, transaction);
  return {
    eventId: id,
    type: "TRANSACTION_CREATED",
    webhookId: "bench",
    transactionId: transaction,
    createdAt: new Date().toISOString(),
    body: new TextEncoder().encode(body),
    signature: "0".repeat(64),
    receivedAt: new Date().toISOString(),
  };
}

const rows: { round: number; seconds: number; relayUs: number; perSecond: number }[] = [];
for (let round = 1; round <= Number(values.rounds); round++) {
  const dataDir = `${root}data/bench-relay-${Date.now()}`;
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const store = await openEventStore({ path: `${dataDir}/events.db` });
  try {
    const prefix = `relay-${Date.now()}`;
    for (let from = 0; from < count; from += 1000) {
      const chunk = Array.from({ length: Math.min(1000, count - from) }, (_, i) => from + i);
      await Promise.all(chunk.map((i) => store.append(event(prefix, i))));
    }
    const before = await sampleProcess(Deno.pid);
    const started = performance.now();
    const relay = startRelayThread(store, {
      brokers: [values.brokers],
      clientId: "upbus-bench",
      topic: `upbus-relay-bench-${Date.now()}`,
      batchSize: Number(values["batch-size"]),
      logLevel: "warn",
      logger: createLogger({ level: "warn" }),
      metrics: createMetrics(),
    });
    try {
      await relay.drained(600_000);
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const after = await sampleProcess(Deno.pid);
      await relay.stop();
      // The relay's worker is the worker thread started since `before`.
      const names: Record<string, string> = {};
      for (const [tid, thread] of after.threadCpu) {
        if (!before.threadCpu.has(tid) && thread.name.startsWith("worker-")) {
          names[thread.name] = "relay worker";
        }
      }
      const cpu = cpuByThread(Deno.pid, before, after, names);
      const relayUs = ((cpu.get("relay worker") ?? 0) / count) * 1e6;
      rows.push({ round, seconds, relayUs, perSecond: count / seconds });
    }
  } finally {
    await store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

console.log(`\nrelay drain: ${count} stored events, batches of up to ${values["batch-size"]}`);
console.log("| round | drain s | events/s | relay worker CPU µs/event |");
console.log("|---|---|---|---|");
for (const row of rows) {
  console.log(
    `| ${row.round} | ${row.seconds.toFixed(2)} | ${row.perSecond.toFixed(0)} | ${
      row.relayUs.toFixed(1)
    } |`,
  );
}
const sorted = rows.map((row) => row.relayUs).sort((a, b) => a - b);
console.log(
  `median relay worker CPU: ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} µs/event`,
);

/**
 * Benchmark: simulate → phone notification latency, in embedded mode, all in one process: the Up
 * simulator creates a purchase and delivers its signed webhook to the real service (events.db),
 * the embedded enricher fetches it into the local log, the notify consumer matches a rule and
 * publishes to a local ntfy-shaped server. Prints p50/p90/max from `createTransaction` to the
 * ntfy request arriving, for the given poll intervals (the enricher's and the consumer's).
 *
 * Usage: deno run -A bench/notify_latency.ts [--count 20] [--poll-ms 500]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/service/config.ts";
import { createNotifyConsumer } from "../lib/consumers/notify/notify.ts";
import { startConsumer } from "../lib/bus/runner.ts";
import { startEnricher } from "../lib/enrich/enricher.ts";
import { loadRules } from "../lib/consumers/notify/load.ts";
import { createLogger } from "../lib/runtime/log.ts";
import { startService } from "../lib/service/service.ts";
import { openLocalLog } from "../lib/bus/local/local_log.ts";
import { localLogRecordSource } from "../lib/bus/local/local_log_source.ts";
import { createUpClient } from "../lib/up/client.ts";
import { createSimulatorControl } from "../lib/up_sim/control.ts";
import { serveUpSimulator } from "../lib/up_sim/server.ts";
import { serveLocalTargets } from "../tests/support/notify_targets.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "20" },
    "poll-ms": { type: "string", default: "500" },
  },
});
const count = Number(values.count);
const pollMs = Number(values["poll-ms"]);
const quiet = createLogger({ write: () => {} });

const dataDir = await Deno.makeTempDir({ prefix: "upbus-notify-bench-" });
const targets = serveLocalTargets({
  webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  telegramToken: "x",
  discord: { id: "1", token: "x" },
});
await Deno.writeTextFile(
  `${dataDir}/notify.yaml`,
  `targets:
  phone: { type: ntfy, url: "${targets.url}/ntfy", topic: bench, rate_per_minute: 6000 }
rules:
  - name: bar over $50
    match: { direction: out, amount: { over: 50 }, category: pubs-and-bars }
    notify:
      - target: phone
        title: "Bar: {{amount}}"
        message: "{{description}} {{amount}}"
`,
);
const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus");
const env: Record<string, string> = {
  PORT: "0",
  HOST: "127.0.0.1",
  DATA_DIR: dataDir,
  UP_WEBHOOK_SECRETS: webhook.secretKey,
};
const service = await startService(loadConfig((name) => env[name]), { logger: quiet });
webhook.url = `http://127.0.0.1:${service.address.port}/webhook`;
const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
const up = createUpClient({ token: sim.token, baseUrl: sim.baseUrl });
const log = await openLocalLog(dataDir);
const enricher = await startEnricher({
  log,
  eventsPath: `${dataDir}/events.db`,
  up,
  pollMs,
  logger: quiet,
});
const loaded = await loadRules(`${dataDir}/notify.yaml`);
const running = await startConsumer(
  createNotifyConsumer({ ...loaded, statePath: `${dataDir}/notify/state.db`, logger: quiet }),
  { source: localLogRecordSource(log, { pollMs }) },
);

const latencies: number[] = [];
for (let i = 0; i < count; i++) {
  const before = targets.received.length;
  const startedAt = Date.now();
  await control.createTransaction({
    amount: "-62.40",
    description: `The Union Hotel ${i}`,
    category: "pubs-and-bars",
  });
  const deadline = Date.now() + 10_000;
  while (targets.received.length === before && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  if (targets.received.length === before) throw new Error(`notification ${i} never arrived`);
  latencies.push(targets.received[before].at - startedAt);
  // Spread the purchases over the poll phase.
  await new Promise((resolve) => setTimeout(resolve, 137));
}
await running.stop();
await enricher.stop();
log.close();
await service.shutdown();
await sim.shutdown();
await targets.close();
await Deno.remove(dataDir, { recursive: true });

latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(
  `simulate -> ntfy, ${count} purchases, poll ${pollMs} ms (enricher and consumer): ` +
    `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${latencies.at(-1)} ms`,
);

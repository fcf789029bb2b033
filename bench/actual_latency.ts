/**
 * Benchmark: simulate → Actual Budget latency, in embedded mode, in one process plus Node.js: the Up
 * simulator creates a purchase and delivers its signed webhook to the real service, the embedded
 * enricher fetches it into the local log, the `actual` consumer adds it through @actual-app/api and
 * syncs it to a real @actual-app/sync-server. Prints p50/p90/max from `createTransaction` until
 * the sync to the server resolved. Needs `npm ci --prefix tools/actual`.
 *
 * Usage: deno run -A bench/actual_latency.ts [--count 10] [--poll-ms 500]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startActualBridge } from "../lib/consumers/actual/bridge_client.ts";
import { loadConfig } from "../lib/service/config.ts";
import { createActualConsumer } from "../lib/consumers/actual/actual.ts";
import { startConsumer } from "../lib/bus/runner.ts";
import { startEnricher } from "../lib/enrich/enricher.ts";
import { createLogger } from "../lib/runtime/log.ts";
import { startService } from "../lib/service/service.ts";
import { openLocalLog } from "../lib/bus/local/local_log.ts";
import { localLogRecordSource } from "../lib/bus/local/local_log_source.ts";
import { createUpClient } from "../lib/up/client.ts";
import { createSimulatorControl } from "../lib/up_sim/control.ts";
import { serveUpSimulator } from "../lib/up_sim/server.ts";
import { startActualServer } from "../tests/support/actual_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "10" },
    "poll-ms": { type: "string", default: "500" },
  },
});
const count = Number(values.count);
const pollMs = Number(values["poll-ms"]);
const quiet = createLogger({ write: () => {} });

const server = await startActualServer();
const dataDir = await Deno.makeTempDir({ prefix: "upbus-actual-bench-" });
const setup = startActualBridge();
const { syncId } = await setup.call<{ syncId: string }>("createBudget", {
  serverURL: server.url,
  password: server.password,
  dataDir: `${dataDir}/setup`,
  name: "bench",
});
await setup.close();

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
const bridge = startActualBridge();
await bridge.call("open", {
  serverURL: server.url,
  password: server.password,
  syncId,
  dataDir: `${dataDir}/actual`,
});
const consumer = await createActualConsumer({ bridge, logger: quiet });
const running = await startConsumer(consumer, { source: localLogRecordSource(log, { pollMs }) });

const latencies: number[] = [];
for (let i = 0; i < count; i++) {
  const before = running.handled;
  const startedAt = Date.now();
  await control.createTransaction({ amount: "-12.40", description: `Shop ${i}` });
  const deadline = Date.now() + 30_000;
  while (running.handled === before && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  if (running.handled === before) throw new Error(`transaction ${i} never reached Actual`);
  latencies.push(Date.now() - startedAt);
  await new Promise((resolve) => setTimeout(resolve, 137));
}
await running.stop();
await enricher.stop();
log.close();
await service.shutdown();
await sim.shutdown();
await server.close();
await Deno.remove(dataDir, { recursive: true });

latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(
  `simulate -> Actual sync server, ${count} purchases, poll ${pollMs} ms: ` +
    `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${latencies.at(-1)} ms`,
);

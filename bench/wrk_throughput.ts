/**
 * Load benchmark with a load generator in C (`wrk`, Debian's package) instead of the Deno
 * client of bench/webhook_throughput.ts, so the generator's own cost does not bound the figure.
 *
 * It precomputes N signed Up webhook bodies (each with its own event id; the HMAC-SHA256
 * signature as lowercase hex in `X-Up-Authenticity-Signature`) into a file that
 * bench/wrk/signed_webhooks.lua sends in rotation, then runs wrk at C connections for D seconds
 * against, in turn:
 *   (a) the ceiling: a bare Hono + HMAC endpoint that stores nothing (bench/ceiling_server.ts);
 *   (b) upbus with Kafka (fsync kept), when `--brokers` is given;
 *   (c) upbus embedded (no Kafka: the store and the local log).
 * For each it prints requests/s, p50, p99, the ratio to the ceiling, and for upbus the CPU per
 * accepted event per thread (bench/proc_stats.ts reads /proc; with Kafka, from wrk's start until
 * the relay has published every stored event, and the relay's wake-ups per event). It checks
 * that each side really accepted what wrk counts: wrk's non-2xx and error counts must be 0, and
 * upbus's stored events (`upbus_events_stored_total` on /metrics) must cover every 2xx wrk
 * counted.
 *
 * Usage: deno task bench:wrk [--duration 10] [--connections 32] [--threads 2]
 *        [--bodies 200000] [--brokers 127.0.0.1:9092] [--port-base 18620]
 *        [--profile DIR]  (each upbus run with --cpu-prof, profiles written to DIR/<mode>)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { signBody } from "../lib/webhook/signature.ts";
import { V8_FLAGS } from "../tasks/compile.ts";
import { cpuByThread, type ProcSample, sampleProcess } from "./proc_stats.ts";

const SECRET = "bench-secret";
const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    threads: { type: "string", default: "2" },
    bodies: { type: "string", default: "200000" },
    brokers: { type: "string" },
    "port-base": { type: "string", default: "18620" },
    profile: { type: "string" },
  },
});
const portBase = Number(values["port-base"]);
const root = new URL("..", import.meta.url).pathname;

/** What the wrk script prints on its `wrk-result` line. */
interface WrkResult {
  requests: number;
  durationUs: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  timeouts: number;
  non2xx: number;
  p50Us: number;
  p99Us: number;
  wrapped: number;
}

/** Writes `count` signed bodies, one "signature\tbody" a line, with ids `${prefix}-${i}`. */
async function writeBodies(path: string, prefix: string, count: number): Promise<void> {
  const api = "https://api.up.com.au/api/v1";
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
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
    lines.push(`${await signBody(body, SECRET)}\t${body}`);
  }
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

async function runWrk(url: string, bodiesPath: string): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: [
      `-t${values.threads}`,
      `-c${values.connections}`,
      `-d${values.duration}s`,
      "--latency",
      "-s",
      `${root}bench/wrk/signed_webhooks.lua`,
      url,
    ],
    env: { BODIES: bodiesPath, WRK_THREADS: values.threads! },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("wrk-result "));
  if (!out.success || line === undefined) {
    throw new Error(`wrk: failed (${new TextDecoder().decode(out.stderr)}${text})`);
  }
  return JSON.parse(line.slice("wrk-result ".length));
}

async function waitHttp(url: string, child: Deno.ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch { /* not listening yet */ }
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 100)),
    ]);
    if (exited) throw new Error(`bench: ${url} exited before it was ready`);
  }
  throw new Error(`bench: ${url} not ready within 60 s`);
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* exited already */ }
  await child.status;
}

async function metric(base: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const found = new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1];
  return found === undefined ? undefined : Number(found);
}

async function storedEvents(base: string): Promise<number> {
  return (await metric(base, "upbus_events_stored_total")) ?? 0;
}

/** With Kafka, waits until the relay has published every stored event: its CPU per event then
 * counts all the work of the events wrk sent, not only what it did while wrk ran. */
async function drained(base: string, timeoutMs = 180_000): Promise<number> {
  const started = performance.now();
  while ((await metric(base, "upbus_relay_backlog")) !== 0) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`bench: the relay did not publish the backlog within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return performance.now() - started;
}

/** The checks every side must pass: wrk saw only 2xx, and no body was sent twice. */
function checkWrk(name: string, result: WrkResult, unique = true): void {
  const errors = result.connectErrors + result.readErrors + result.writeErrors + result.timeouts;
  if (result.non2xx !== 0 || errors !== 0) {
    throw new Error(`bench: ${name}: ${result.non2xx} non-2xx answers, ${errors} socket errors`);
  }
  if (unique && result.wrapped !== 0) {
    throw new Error(`bench: ${name}: bodies ran out (${result.wrapped} repeats); raise --bodies`);
  }
}

interface Row {
  name: string;
  result: WrkResult;
  cpuUsPerEvent?: Map<string, number>;
  stored?: number;
  /** With Kafka: how long after wrk's end the relay had published everything, in ms. */
  drainMs?: number;
  /** With Kafka: commits that woke the relay, per stored event (absent before the counter). */
  wakeupsPerEvent?: number;
}

const rows: Row[] = [];
const dataRoot = `${root}data/bench-wrk-${Date.now()}`;
await Deno.mkdir(dataRoot, { recursive: true, mode: 0o700 });
const count = Number(values.bodies);
try {
  // (a) the ceiling.
  const ceilingBodies = `${dataRoot}/ceiling.txt`;
  await writeBodies(ceilingBodies, `ceiling-${Date.now()}`, count);
  const ceiling = new Deno.Command("deno", {
    args: ["run", "--allow-net=127.0.0.1", "--allow-env=PORT,SECRET", "bench/ceiling_server.ts"],
    env: { PORT: String(portBase + 10), SECRET },
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitHttp(`http://127.0.0.1:${portBase + 10}/healthz`, ceiling);
    const result = await runWrk(`http://127.0.0.1:${portBase + 10}/webhook`, ceilingBodies);
    checkWrk("ceiling", result, false); // stores nothing: repeated ids cost it the same
    rows.push({ name: "ceiling (Hono + HMAC, stores nothing)", result });
  } finally {
    await stop(ceiling);
  }

  // (b) upbus with Kafka, (c) upbus embedded.
  const modes: Array<{ name: string; env: Record<string, string> }> = [];
  if (values.brokers !== undefined) {
    const topic = `upbus-wrk-${Date.now()}`;
    modes.push({
      name: "upbus, Kafka (fsync)",
      env: { KAFKA_BROKERS: values.brokers, KAFKA_TOPIC: topic },
    });
  }
  modes.push({ name: "upbus, embedded (fsync)", env: {} });
  for (const [i, mode] of modes.entries()) {
    const dataDir = `${dataRoot}/upbus-${i}`;
    await Deno.mkdir(dataDir, { mode: 0o700 });
    const bodies = `${dataRoot}/upbus-${i}.txt`;
    await writeBodies(bodies, `upbus-${i}-${Date.now()}`, count);
    const port = portBase + i;
    const profile = values.profile === undefined ? [] : [
      "--cpu-prof",
      `--cpu-prof-dir=${values.profile}/${i === 0 && modes.length > 1 ? "kafka" : "embedded"}`,
    ];
    const service = new Deno.Command("deno", {
      args: ["run", "-P=serve", ...profile, `--v8-flags=${V8_FLAGS}`, "main.ts", "serve"],
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        DATA_DIR: dataDir,
        UP_WEBHOOK_SECRETS: SECRET,
        LOG_LEVEL: "warn",
        // wrk's connections all come from 127.0.0.1, beside this process's own /metrics client.
        MAX_CLIENT_CONNECTIONS: String(Number(values.connections) + 8),
        ...mode.env,
      },
      cwd: root,
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitHttp(`${base}/readyz`, service);
      const storedBefore = await storedEvents(base);
      const before: ProcSample = await sampleProcess(service.pid);
      const wakeupsBefore = await metric(base, "upbus_relay_wakeups_total");
      const result = await runWrk(`${base}/webhook`, bodies);
      const drainMs = mode.env.KAFKA_BROKERS === undefined ? undefined : await drained(base);
      const after: ProcSample = await sampleProcess(service.pid);
      const wakeups = await metric(base, "upbus_relay_wakeups_total");
      checkWrk(mode.name, result);
      const stored = (await storedEvents(base)) - storedBefore;
      // Requests still in flight when wrk stops may be stored without being counted by wrk.
      if (stored < result.requests || stored > result.requests + Number(values.connections)) {
        throw new Error(
          `bench: ${mode.name}: wrk counted ${result.requests} 200s but the store holds ${stored} new events`,
        );
      }
      const cpu = cpuByThread(service.pid, before, after, {
        "worker-1": "store worker",
        "worker-2": "relay worker",
      });
      const perEvent = new Map<string, number>();
      let all = 0;
      for (const [kind, seconds] of cpu) {
        perEvent.set(kind, (seconds / stored) * 1e6);
        all += seconds;
      }
      perEvent.set("whole process", (all / stored) * 1e6);
      const wakeupsPerEvent = wakeups === undefined || drainMs === undefined
        ? undefined
        : (wakeups - (wakeupsBefore ?? 0)) / stored;
      rows.push({
        name: mode.name,
        result,
        cpuUsPerEvent: perEvent,
        stored,
        drainMs,
        wakeupsPerEvent,
      });
    } finally {
      await stop(service);
    }
  }
} finally {
  await Deno.remove(dataRoot, { recursive: true });
}

const rps = (r: WrkResult) => r.requests / (r.durationUs / 1e6);
const ceilingRps = rps(rows[0].result);
console.log(
  `\nwrk ${values.connections} connections, ${values.threads} threads, ${values.duration} s each`,
);
console.log("| side | requests/s | p50 ms | p99 ms | × ceiling req/s | events stored |");
console.log("|---|---|---|---|---|---|");
for (const row of rows) {
  const r = row.result;
  console.log(
    `| ${row.name} | ${rps(r).toFixed(0)} | ${(r.p50Us / 1000).toFixed(2)} | ${
      (r.p99Us / 1000).toFixed(2)
    } | ${(rps(r) / ceilingRps).toFixed(2)} | ${row.stored ?? "-"} |`,
  );
}
for (const row of rows.filter((row) => row.cpuUsPerEvent !== undefined)) {
  const drain = row.drainMs === undefined
    ? ""
    : ` (until the relay had published all, ${(row.drainMs / 1000).toFixed(1)} s after wrk; ${
      row.wakeupsPerEvent === undefined
        ? "wake-ups not counted"
        : `${row.wakeupsPerEvent.toFixed(3)} relay wake-ups per event`
    })`;
  console.log(`\n${row.name}: CPU per accepted event, µs${drain}`);
  for (const [kind, us] of [...row.cpuUsPerEvent!].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${kind.padEnd(20)} ${us.toFixed(1)}`);
  }
}

/**
 * Load benchmark with a load generator in C (`wrk`, Debian's package) instead of the Deno
 * client of bench/webhook_throughput.ts, so the generator's own cost does not bound the figure.
 *
 * It precomputes N signed Up webhook bodies (each with its own event id; the HMAC-SHA256
 * signature as lowercase hex in `X-Up-Authenticity-Signature`) into a file that
 * bench/wrk/signed_webhooks.lua sends in rotation, then runs wrk at C connections for D seconds
 * against, in turn:
 *   (a) the ceiling: a bare Hono + HMAC endpoint that stores nothing (bench/ceiling_server.ts);
 *   (b) the Go bridge (bench/go_bridge/: net/http, HMAC, franz-go, 200 on the broker's ack, no
 *       fsync), when `--brokers` is given and `go` is installed (built into
 *       bench/go_bridge/bin/ first; without `go` the bench says so and leaves it out);
 *   (c) upbus with Kafka (fsync kept), when `--brokers` is given, on the Go bridge's topic;
 *   (d) upbus embedded (no Kafka: the store and the local log).
 * For each it prints requests/s, p50, p99, the ratios to the ceiling and to the Go bridge, and
 * the CPU per accepted event (per thread for upbus; bench/proc_stats.ts reads /proc; for upbus
 * with Kafka from wrk's start until the relay has published every stored event, with the relay's
 * wake-ups per event). Before the load, each side must answer 200 to one correctly signed
 * request and 401 to one signed with another secret. It checks that each side really accepted
 * what wrk counts: wrk's non-2xx and error counts must be 0, upbus's stored events
 * (`upbus_events_stored_total` on /metrics) and the Go bridge's records on the topic (the
 * partitions' high-water marks) must cover every 2xx wrk counted.
 *
 * Usage: deno task bench:wrk [--duration 10] [--connections 32] [--threads 2]
 *        [--bodies 200000] [--brokers 127.0.0.1:9092] [--port-base 18620]
 *        [--profile DIR]  (each upbus run with --cpu-prof, profiles written to DIR/<mode>)
 *
 * @module
 */
import { benchWebhookBody } from "./webhook_body.ts";
import { parseArgs } from "node:util";
import { createKafka } from "../lib/bus/kafka/client.ts";
import { SIGNATURE_HEADER, signBody } from "../lib/webhook/signature.ts";
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
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const body = benchWebhookBody(`${prefix}-${i}`, `tx-${i % 500}`);
    lines.push(`${await signBody(body, SECRET)}\t${body}`);
  }
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

/**
 * Sends one correctly signed request and one signed with another secret; throws unless the
 * first gets 200 and the second 401 (a side that accepts anything, or nothing, is no contestant).
 */
async function checkSignatures(name: string, url: string): Promise<void> {
  const body = benchWebhookBody(`check-${name.replace(/\W+/g, "-")}-${Date.now()}`, "tx-check");
  const answers: number[] = [];
  for (const secret of [SECRET, `not-${SECRET}`]) {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        [SIGNATURE_HEADER]: await signBody(body, secret),
      },
      body,
    });
    await response.body?.cancel();
    answers.push(response.status);
  }
  if (answers[0] !== 200 || answers[1] !== 401) {
    throw new Error(
      `bench: ${name}: answered ${answers[0]} to a correctly signed request (expected 200) and ${
        answers[1]
      } to a badly signed one (expected 401)`,
    );
  }
}

/** Where the Go bridge's binary is built (gitignored). */
const GO_BRIDGE = `${root}bench/go_bridge/bin/go_bridge`;

/** Builds bench/go_bridge; `undefined` (and says why) when `go` is not installed. */
async function buildGoBridge(): Promise<string | undefined> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("go", {
      args: ["build", "-buildvcs=false", "-o", GO_BRIDGE, "."],
      cwd: `${root}bench/go_bridge`,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    console.log("bench: `go` is not installed: the Go bridge is left out (apt-get install golang)");
    return undefined;
  }
  if (!out.success) {
    throw new Error(
      `bench: go build of bench/go_bridge failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return GO_BRIDGE;
}

/**
 * The pid of the broker behind `brokers` when it was started from this checkout (its
 * `.kafka/<dir>/broker.json` names the port): its CPU is counted per event beside each Kafka
 * contestant's. `undefined` for a broker started elsewhere.
 */
async function brokerPid(brokers: string): Promise<number | undefined> {
  const port = Number(brokers.split(",")[0].split(":").at(-1));
  try {
    for await (const entry of Deno.readDir(`${root}.kafka`)) {
      try {
        const state = JSON.parse(
          await Deno.readTextFile(`${root}.kafka/${entry.name}/broker.json`),
        );
        if (state.port === port) return state.pid;
      } catch { /* not a broker's directory */ }
    }
  } catch { /* no .kafka */ }
  return undefined;
}

/** CPU seconds the broker used between two readings, or nothing without a broker pid. */
async function brokerCpu(pid: number | undefined): Promise<number | undefined> {
  return pid === undefined ? undefined : (await sampleProcess(pid)).cpuSeconds;
}

/** Records on `topic`: the sum of its partitions' high-water marks. */
async function topicRecords(brokers: string, topic: string): Promise<number> {
  const admin = createKafka({ brokers: brokers.split(",") }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
  } finally {
    await admin.disconnect();
  }
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
  /** Events stored (upbus) or records on the topic (the Go bridge) during the run. */
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
    await checkSignatures("ceiling", `http://127.0.0.1:${portBase + 10}/webhook`);
    const result = await runWrk(`http://127.0.0.1:${portBase + 10}/webhook`, ceilingBodies);
    checkWrk("ceiling", result, false); // stores nothing: repeated ids cost it the same
    rows.push({ name: "ceiling (Hono + HMAC, stores nothing)", result });
  } finally {
    await stop(ceiling);
  }

  // (b) the Go bridge, on the topic upbus with Kafka then uses.
  const topic = `upbus-wrk-${Date.now()}`;
  const goBridge = values.brokers === undefined ? undefined : await buildGoBridge();
  const broker = values.brokers === undefined ? undefined : await brokerPid(values.brokers);
  if (values.brokers === undefined) console.log("bench: no --brokers: the Go bridge is left out");
  if (goBridge !== undefined) {
    const bodies = `${dataRoot}/go.txt`;
    await writeBodies(bodies, `go-${Date.now()}`, count);
    const port = portBase + 11;
    const bridge = new Deno.Command(goBridge, {
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        UP_WEBHOOK_SECRETS: SECRET,
        KAFKA_BROKERS: values.brokers!,
        KAFKA_TOPIC: topic,
      },
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitHttp(`${base}/healthz`, bridge);
      await checkSignatures("Go bridge", `${base}/webhook`);
      const recordsBefore = await topicRecords(values.brokers!, topic);
      const before = await sampleProcess(bridge.pid);
      const brokerBefore = await brokerCpu(broker);
      const result = await runWrk(`${base}/webhook`, bodies);
      const after = await sampleProcess(bridge.pid);
      const brokerAfter = await brokerCpu(broker);
      checkWrk("Go bridge", result);
      const records = (await topicRecords(values.brokers!, topic)) - recordsBefore;
      if (records < result.requests || records > result.requests + Number(values.connections)) {
        throw new Error(
          `bench: Go bridge: wrk counted ${result.requests} 200s but the topic holds ${records} new records`,
        );
      }
      rows.push({
        name: "Go bridge (net/http + franz-go, ack, no fsync)",
        result,
        cpuUsPerEvent: new Map([
          ["whole process", ((after.cpuSeconds - before.cpuSeconds) / records) * 1e6],
          ...(brokerAfter === undefined ? [] : [
            ["(Kafka broker)", ((brokerAfter - brokerBefore!) / records) * 1e6] as [string, number],
          ]),
        ]),
        stored: records,
      });
    } finally {
      await stop(bridge);
    }
  }

  // (c) upbus with Kafka, (d) upbus embedded.
  const modes: Array<{ name: string; env: Record<string, string> }> = [];
  if (values.brokers !== undefined) {
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
      await checkSignatures(mode.name, `${base}/webhook`);
      const storedBefore = await storedEvents(base);
      const before: ProcSample = await sampleProcess(service.pid);
      const wakeupsBefore = await metric(base, "upbus_relay_wakeups_total");
      const brokerBefore = await brokerCpu(
        mode.env.KAFKA_BROKERS === undefined ? undefined : broker,
      );
      const result = await runWrk(`${base}/webhook`, bodies);
      const drainMs = mode.env.KAFKA_BROKERS === undefined ? undefined : await drained(base);
      const after: ProcSample = await sampleProcess(service.pid);
      const wakeups = await metric(base, "upbus_relay_wakeups_total");
      const brokerAfter = await brokerCpu(
        mode.env.KAFKA_BROKERS === undefined ? undefined : broker,
      );
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
      if (brokerAfter !== undefined) {
        perEvent.set("(Kafka broker)", ((brokerAfter - brokerBefore!) / stored) * 1e6);
      }
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
const go = rows.find((row) => row.name.startsWith("Go bridge"))?.result;
const toGo = (ratio: (g: WrkResult) => number) => go === undefined ? "-" : ratio(go).toFixed(2);
console.log(
  `\nwrk ${values.connections} connections, ${values.threads} threads, ${values.duration} s each`,
);
console.log(
  "| side | requests/s | p50 ms | p99 ms | × ceiling req/s | × Go req/s | × Go p99 | stored |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const row of rows) {
  const r = row.result;
  console.log(
    `| ${row.name} | ${rps(r).toFixed(0)} | ${(r.p50Us / 1000).toFixed(2)} | ${
      (r.p99Us / 1000).toFixed(2)
    } | ${(rps(r) / ceilingRps).toFixed(2)} | ${toGo((g) => rps(r) / rps(g))} | ${
      toGo((g) => r.p99Us / g.p99Us)
    } | ${row.stored ?? "-"} |`,
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

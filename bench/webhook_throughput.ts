/**
 * Benchmark of the real upbus service (its own process, with a real broker), in one run:
 *
 * 1. startup: from spawn to `/healthz` (listening) and to `/readyz` 200 (store, Kafka, secret);
 * 2. idle cost over 10 s of the service and of two consumers (`enrich`, `consume position`):
 *    CPU, wake-ups per second (voluntary context switches of all threads), resident memory;
 * 3. `simulate` to dashboard: the Up simulator creates a transaction, and the time until
 *    `consume position` pushes it to the dashboard's event stream, through upbus and `enrich`;
 * 4. end-to-end latency at a steady Up-like rate (20 events/s for 10 s): from each request's 200
 *    to its record being readable from Kafka by a consumer, p50/p99;
 * 5. throughput: N signed requests at concurrency C, beside the same load against a bare Hono +
 *    HMAC endpoint that stores nothing (the ceiling), alternating rounds; requests/s, p50/p99,
 *    the ratio to the ceiling, the 200-to-Kafka latency under that load, the time until every
 *    event is acknowledged by Kafka, and the service's peak RSS.
 *
 * Usage: deno task bench [--requests 5000] [--concurrency 32] [--brokers 127.0.0.1:9092]
 *        [--embedded]  (no Kafka: the store only) [--rounds 3]
 *        [--seed-requests 300]  (also the origin document's listener, ../shared/baselines;
 *                                needs python3 with flask and kafka-python)
 *        [--port-base 18480]  (service; dashboard +1, ceiling +10, origin +15)
 *        [--service-v8-flags FLAGS]  (V8 flags for the service only, e.g. to try heap sizes)
 *        [--profile DIR]  (the service runs with --cpu-prof, its profiles written to DIR)
 * Start a broker first: `deno task kafka start`.
 *
 * @module
 */
import { benchWebhookBody } from "./webhook_body.ts";
import { parseArgs } from "node:util";
import { createKafka } from "../lib/bus/kafka/client.ts";
import { ensureTopics } from "../lib/bus/kafka/topics.ts";
import { signBody } from "../lib/webhook/signature.ts";
import { V8_FLAGS } from "../tasks/compile.ts";
import { createSimulatorControl } from "../lib/up_sim/control.ts";
import { serveUpSimulator } from "../lib/up_sim/server.ts";
import { openDashboardStream, simulateToDashboard } from "./dashboard_latency.ts";
import { type KafkaArrivals, watchArrivals } from "./kafka_arrivals.ts";
import {
  cpuByThread,
  findBrokerPid,
  type ProcSample,
  type ProcUsage,
  sampleProcess,
  usageBetween,
} from "./proc_stats.ts";

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
    profile: { type: "string" },
    "port-base": { type: "string", default: "18480" },
    "service-v8-flags": { type: "string" },
  },
});
const total = Number(values.requests);
/** `--embedded` benchmarks embedded mode: the store only, no Kafka. */
const embedded = values.embedded!;
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
/** `--seed-requests N` also drives N requests at the origin document's Flask listener. */
const seedRequests = embedded ? 0 : Number(values["seed-requests"]);
/** `--port-base P`: the service listens on P, the dashboard on P+1, the ceiling on P+10, the
 * origin listener on P+15. */
const portBase = Number(values["port-base"]);
const SERVICE = `http://127.0.0.1:${portBase}`;
const DASHBOARD = `http://127.0.0.1:${portBase + 1}/`;
const CEILING = `http://127.0.0.1:${portBase + 10}`;
const ORIGIN = `http://127.0.0.1:${portBase + 15}/`;

interface RunResult {
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
  /** `performance.now()` of each event id's 200. */
  okAt: Map<string, number>;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ms`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function bodies(
  prefix: string,
  count: number,
): Promise<Array<{ body: string; signature: string }>> {
  return await Promise.all(Array.from({ length: count }, async (_, i) => {
    const body = benchWebhookBody(`${prefix}-${i}`, `tx-${i % 500}`);
    return { body, signature: await signBody(body, SECRET) };
  }));
}

/** Sends one signed request; returns its latency and whether it got a 200. */
async function post(url: string, request: { body: string; signature: string }) {
  const sent = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Up-Authenticity-Signature": request.signature,
    },
    body: request.body,
  });
  await response.body?.cancel();
  const at = performance.now();
  return { latency: at - sent, at, ok: response.status === 200 };
}

function result(
  count: number,
  seconds: number,
  latencies: number[],
  failures: number,
  okAt: Map<string, number>,
): RunResult {
  const ordered = sorted(latencies);
  return {
    seconds,
    perSecond: count / seconds,
    p50: percentile(ordered, 0.5),
    p99: percentile(ordered, 0.99),
    failures,
    okAt,
  };
}

/** `count` requests, `concurrency` at a time, as fast as they are answered. */
async function drive(url: string, prefix: string, count = total): Promise<RunResult> {
  const requests = await bodies(prefix, count);
  const latencies: number[] = [];
  const okAt = new Map<string, number>();
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests.length) {
      const index = next++;
      const { latency, at, ok } = await post(url, requests[index]);
      latencies.push(latency);
      if (ok) okAt.set(`${prefix}-${index}`, at);
      else failures++;
    }
  }));
  return result(count, (performance.now() - started) / 1000, latencies, failures, okAt);
}

/** `rate` requests a second for `seconds`, each sent on time whatever the others do. */
async function steady(url: string, prefix: string, rate: number, seconds: number) {
  const count = rate * seconds;
  const requests = await bodies(prefix, count);
  const latencies: number[] = [];
  const okAt = new Map<string, number>();
  let failures = 0;
  const started = performance.now();
  await Promise.all(requests.map(async (request, index) => {
    const due = started + (index * 1000) / rate;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    const { latency, at, ok } = await post(url, request);
    latencies.push(latency);
    if (ok) okAt.set(`${prefix}-${index}`, at);
    else failures++;
  }));
  return result(count, (performance.now() - started) / 1000, latencies, failures, okAt);
}

/** Time from each 200 to the record's arrival in Kafka, sorted; `missing` never arrived. */
async function toKafka(arrivals: KafkaArrivals, run: RunResult) {
  const ids = [...run.okAt.keys()];
  await arrivals.waitFor(ids, 30_000);
  const delays = ids.flatMap((id) => {
    const seen = arrivals.arrivals.get(id);
    return seen === undefined ? [] : [Math.max(0, seen - run.okAt.get(id)!)];
  });
  return { delays: sorted(delays), missing: ids.length - delays.length };
}

/** Polls `url` every 10 ms until it answers 200; returns when, `performance.now()` ms. */
async function answeredAt(url: string, timeoutMs = 60_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return performance.now();
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`Cannot benchmark: ${url} did not answer 200 within ${timeoutMs} ms`);
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

/** The last 16 KiB each child wrote to stderr, shown when the benchmark fails. Kept as bytes, so
 * that reading the service's log lines costs this process (the load generator) next to nothing. */
const childLogs = new Map<string, Uint8Array[]>();

function spawn(name: string, args: string[], env: Record<string, string>): Deno.ChildProcess {
  const child = new Deno.Command("deno", {
    args,
    env,
    stdout: "null",
    stderr: "piped",
    cwd: new URL("..", import.meta.url).pathname,
  }).spawn();
  const chunks: Uint8Array[] = [];
  childLogs.set(name, chunks);
  (async () => {
    let kept = 0;
    for await (const chunk of child.stderr) {
      chunks.push(chunk);
      kept += chunk.byteLength;
      while (kept - chunks[0].byteLength > 16_384) kept -= chunks.shift()!.byteLength;
    }
  })();
  return child;
}

function logTail(chunks: Uint8Array[]): string {
  const text = chunks.map((chunk) => new TextDecoder().decode(chunk)).join("");
  return text.split("\n").slice(-20).join("\n");
}

async function stopChild(child: Deno.ChildProcess | undefined): Promise<void> {
  if (child === undefined) return;
  try {
    child.kill("SIGTERM");
  } catch { /* exited already */ }
  await child.status;
}

/** Thread names of the service's workers, in the order it starts them. */
const SERVICE_THREADS = { "worker-1": "store worker", "worker-2": "relay worker" };

function processCpu(before: ProcSample, after: ProcSample): Map<string, number> {
  return new Map([["", after.cpuSeconds - before.cpuSeconds]]);
}

function addCpu(into: Map<string, number>, from: Map<string, number>, prefix: string): void {
  for (const [kind, seconds] of from) {
    const key = `${prefix}${kind}`.trim();
    into.set(key, (into.get(key) ?? 0) + seconds);
  }
}

/** Waits until Kafka acknowledged every stored event (returns at once in embedded mode). */
async function waitAllPublished(): Promise<void> {
  while (!embedded) {
    const text = await (await fetch(`${SERVICE}/metrics`)).text();
    const backlog = Number(/^upbus_relay_backlog (\d+)/m.exec(text)?.[1] ?? 1);
    if (backlog === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Events stored and store commits so far, from the service's /metrics. */
async function storeFigures(): Promise<{ stored: number; commits: number }> {
  const text = await (await fetch(`${SERVICE}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? 0);
  return { stored: value("upbus_events_stored_total"), commits: value("upbus_store_commits") };
}

// Under ./data: the one place the service's permission set lets it write.
const dataDir = new URL(`../data/bench-${Date.now()}`, import.meta.url).pathname;
await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
const topic = `upbus-bench-${Date.now()}`;
const kafkaEnv: Record<string, string> = embedded ? {} : {
  KAFKA_BROKERS: values.brokers!,
  KAFKA_TOPIC: topic,
  TRANSACTIONS_TOPIC: `${topic}.transactions`,
};
// Up, for the simulate-to-dashboard figure: its webhook delivers to the service.
const sim = serveUpSimulator({ port: 0, seedTransactions: 2, retryDelaysMs: [200, 1000] });
const webhook = sim.bank.addWebhook(`${SERVICE}/webhook`, "upbus bench");
const v8Flags = [
  ...(values.profile === undefined ? [] : ["--cpu-profiler-sampling-interval=500"]),
  // As `deno task start` runs it, unless told otherwise (`--service-v8-flags=` for none).
  values["service-v8-flags"] ?? V8_FLAGS,
].filter((flag) => flag !== "");
const profile = [
  ...(values.profile === undefined ? [] : [`--cpu-prof`, `--cpu-prof-dir=${values.profile}`]),
  ...(v8Flags.length === 0 ? [] : [`--v8-flags=${v8Flags.join(",")}`]),
];
const serviceStarted = performance.now();
const service = spawn("service", ["run", "-P=serve", ...profile, "main.ts", "serve"], {
  PORT: String(portBase),
  HOST: "127.0.0.1",
  DATA_DIR: dataDir,
  UP_WEBHOOK_SECRETS: `${SECRET},${webhook.secretKey}`,
  ...kafkaEnv,
  LOG_LEVEL: Deno.env.get("BENCH_LOG_LEVEL") ?? "info",
});
const ceiling = spawn("ceiling", [
  "run",
  "--allow-net=127.0.0.1",
  "--allow-env=PORT,SECRET",
  "bench/ceiling_server.ts",
], { PORT: String(portBase + 10), SECRET });
const seedTopic = `seed-bench-${Date.now()}`;
let seed: Deno.ChildProcess | undefined;
let enrich: Deno.ChildProcess | undefined;
let position: Deno.ChildProcess | undefined;
let arrivals: KafkaArrivals | undefined;
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
      SEED_PORT: String(portBase + 15),
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
}
const lines: string[] = [];
const say = (line: string) => {
  console.log(line);
  lines.push(line);
};
try {
  // 1. Startup.
  const listening = await answeredAt(`${SERVICE}/healthz`);
  const ready = await answeredAt(`${SERVICE}/readyz`);
  await answeredAt(`${CEILING}/healthz`);

  // 2. Idle: the service and two consumers, all at rest.
  const consumerEnv = {
    UP_API_BASE: sim.baseUrl,
    UP_API_TOKEN: sim.token,
    DATA_DIR: dataDir,
    DASHBOARD_PORT: String(portBase + 1),
    ...kafkaEnv,
    LOG_LEVEL: "warn",
  };
  enrich = spawn("enrich", ["run", "-P=enrich", "main.ts", "enrich"], consumerEnv);
  // `consume position` exits when the topic that `enrich` has just created has no leader yet
  // ("This server is not the leader for that topic-partition"): start it again then.
  for (let attempt = 1;; attempt++) {
    position = spawn(
      "consume position",
      ["run", "-P=consume", "main.ts", "consume", "position"],
      consumerEnv,
    );
    const up = answeredAt(DASHBOARD).then(() => "up");
    up.catch(() => {});
    if (await Promise.race([up, position.status.then(() => "exited")]) === "up") break;
    if (attempt === 3) throw new Error("Cannot benchmark: consume position exited three times");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const stream = await openDashboardStream(DASHBOARD);
  const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
  // One transaction end to end first: every part has connected and joined its group.
  await simulateToDashboard(control, stream, 0);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const idlePids = { service: service.pid, enrich: enrich.pid, "consume position": position.pid };
  const idleNames = Object.keys(idlePids) as Array<keyof typeof idlePids>;
  const idleBefore = await Promise.all(idleNames.map((name) => sampleProcess(idlePids[name])));
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const idleAfter = await Promise.all(idleNames.map((name) => sampleProcess(idlePids[name])));
  const idle = new Map<string, ProcUsage>(
    idleNames.map((name, i) => [name, usageBetween(idleBefore[i], idleAfter[i])]),
  );

  // 3. simulate -> dashboard.
  const dashboard = sorted(await simulateToDashboard(control, stream, 10));
  await stream.close();
  await stopChild(enrich);
  await stopChild(position);
  enrich = position = undefined;

  // 4. A steady Up-like rate, 200 -> readable from Kafka.
  if (!embedded) {
    arrivals = await watchArrivals(createKafka({ brokers: [values.brokers!] }), topic);
  }
  const steadyRun = await steady(`${SERVICE}/webhook`, "steady", 20, 10);
  const steadyKafka = arrivals ? await toKafka(arrivals, steadyRun) : undefined;

  // 5. Throughput. Warm both up so JIT and connection pools do not count against either, then
  // alternate rounds so that the machine's noise falls on both alike; report each side's median
  // round.
  await drive(`${CEILING}/webhook`, "warm-ceiling");
  const warm = await drive(`${SERVICE}/webhook`, "warm-upbus");
  if (arrivals) {
    await toKafka(arrivals, warm);
    // Not during the throughput rounds: its fetches would load the broker and this process.
    await arrivals.stop();
    arrivals = undefined;
  }
  await waitAllPublished();
  const ceilingRuns: RunResult[] = [];
  const upbusRuns: RunResult[] = [];
  const drainTimes: number[] = [];
  // CPU per event during each side's rounds: the ceiling server and this process (the load
  // generator) for the ceiling; each thread kind of the service, the broker and this process
  // for upbus, until Kafka acknowledged the round's last event.
  const brokerPid = embedded
    ? undefined
    : await findBrokerPid(Number(values.brokers!.split(":").pop()));
  const cpu = new Map<string, number>();
  const ceilingCpu = new Map<string, number>();
  const storeBefore = await storeFigures();
  for (let round = 0; round < rounds; round++) {
    const ceilingBefore = await Promise.all([ceiling.pid, Deno.pid].map(sampleProcess));
    ceilingRuns.push(await drive(`${CEILING}/webhook`, `ceiling-${round}`));
    const ceilingAfter = await Promise.all([ceiling.pid, Deno.pid].map(sampleProcess));
    addCpu(ceilingCpu, processCpu(ceilingBefore[0], ceilingAfter[0]), "ceiling server");
    addCpu(
      ceilingCpu,
      processCpu(ceilingBefore[1], ceilingAfter[1]),
      "bench process (load generator)",
    );
    const pids = [service.pid, Deno.pid, ...(brokerPid ? [brokerPid] : [])];
    const before = await Promise.all(pids.map(sampleProcess));
    const started = performance.now();
    const run = await drive(`${SERVICE}/webhook`, `upbus-${round}`);
    upbusRuns.push(run);
    if (!embedded) {
      await waitAllPublished();
      drainTimes.push((performance.now() - started) / 1000);
    }
    const after = await Promise.all(pids.map(sampleProcess));
    addCpu(cpu, cpuByThread(service.pid, before[0], after[0], SERVICE_THREADS), "upbus ");
    addCpu(cpu, processCpu(before[1], after[1]), "bench process (load generator)");
    if (brokerPid) addCpu(cpu, processCpu(before[2], after[2]), "Kafka broker (JVM)");
  }
  const storeAfter = await storeFigures();
  // One more round for the 200 -> Kafka latency under load, with a watcher from the end.
  let loadKafka: { delays: number[]; missing: number } | undefined;
  if (!embedded) {
    arrivals = await watchArrivals(createKafka({ brokers: [values.brokers!] }), topic, {
      fromBeginning: false,
    });
    // The group has joined; give its first fetch time to settle on the end of the topic.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    loadKafka = await toKafka(arrivals, await drive(`${SERVICE}/webhook`, "latency"));
  }
  // VmHWM, the peak since start: the load rounds, since the service was idle before them.
  const loadRss = (await sampleProcess(service.pid)).peakRss;
  const median = <T>(items: T[], by: (item: T) => number): T =>
    [...items].sort((a, b) => by(a) - by(b))[Math.floor(items.length / 2)];
  const ceilingRun = median(ceilingRuns, (r) => r.perSecond);
  const upbusRun = median(upbusRuns, (r) => r.perSecond);
  const allInKafka = drainTimes.length ? median(drainTimes, (t) => t) : NaN;

  const mode = embedded ? "embedded (store only)" : "with Kafka";
  say(`upbus ${mode}, one run of bench/webhook_throughput.ts`);
  say(
    `startup: listening ${ms(listening - serviceStarted)}, ready ${
      ms(ready - serviceStarted)
    } after spawn`,
  );
  for (const [name, usage] of idle) {
    say(
      `idle ${name.padEnd(17)} CPU ${(usage.cpuShare * 100).toFixed(2)} %  wake-ups ${
        usage.wakeupsPerSecond.toFixed(1)
      }/s  RSS ${mib(usage.rss)}  threads ${usage.threads}  (${usage.seconds.toFixed(0)} s)`,
    );
  }
  say(
    `simulate -> dashboard (${dashboard.length}, one at a time): p50 ${
      ms(percentile(dashboard, 0.5))
    }  max ${ms(dashboard.at(-1)!)}`,
  );
  const steadyLine = `steady 20 events/s for 10 s: 200 p50 ${ms(steadyRun.p50)}  p99 ${
    ms(steadyRun.p99)
  }`;
  say(
    steadyKafka === undefined
      ? `${steadyLine}  (embedded: readable in events.db at the 200)`
      : `${steadyLine};  200 -> readable from Kafka p50 ${
        ms(percentile(steadyKafka.delays, 0.5))
      }  p99 ${ms(percentile(steadyKafka.delays, 0.99))}${
        steadyKafka.missing ? `  (${steadyKafka.missing} never arrived)` : ""
      }`,
  );
  const row = (name: string, r: RunResult) =>
    `${name.padEnd(28)} ${r.perSecond.toFixed(0).padStart(8)} req/s  p50 ${
      r.p50.toFixed(2).padStart(6)
    } ms  p99 ${r.p99.toFixed(2).padStart(6)} ms  non-200: ${r.failures}`;
  say(
    `load: ${total} signed requests, concurrency ${concurrency}; median of ${rounds} alternating rounds`,
  );
  say(row("ceiling (Hono + HMAC only)", ceilingRun));
  say(row(embedded ? "upbus (embedded: store only)" : "upbus (store + Kafka)", upbusRun));
  say(
    `ratio to ceiling: ${(upbusRun.perSecond / ceilingRun.perSecond).toFixed(2)} (throughput), ${
      (upbusRun.p99 / ceilingRun.p99).toFixed(2)
    }x (p99 latency)`,
  );
  if (loadKafka !== undefined) {
    say(
      `under load: 200 -> readable from Kafka p50 ${ms(percentile(loadKafka.delays, 0.5))}  p99 ${
        ms(percentile(loadKafka.delays, 0.99))
      }${
        loadKafka.missing ? `  (${loadKafka.missing} never arrived)` : ""
      } (a separate round); all ${total} events of a round acknowledged by Kafka ${
        allInKafka.toFixed(2)
      } s after its first request`,
    );
  }
  say(`service RSS under load: peak ${mib(loadRss)} (idle ${mib(idle.get("service")!.rss)})`);
  const stored = storeAfter.stored - storeBefore.stored;
  say(
    `store: ${stored} events in ${storeAfter.commits - storeBefore.commits} commits (${
      (stored / Math.max(1, storeAfter.commits - storeBefore.commits)).toFixed(1)
    } per fsync'd commit)`,
  );
  const events = total * rounds;
  const cpuLines = (title: string, figures: Map<string, number>) => {
    const sum = [...figures.values()].reduce((a, b) => a + b, 0);
    say(`CPU per request, ${title}: ${((sum * 1e6) / events).toFixed(0)} µs`);
    for (const [kind, seconds] of [...figures].sort((a, b) => b[1] - a[1])) {
      if (seconds > 0) say(`  ${((seconds * 1e6) / events).toFixed(0).padStart(6)} µs  ${kind}`);
    }
  };
  cpuLines("ceiling rounds", ceilingCpu);
  cpuLines(`upbus rounds${embedded ? "" : ", until Kafka acknowledged"}`, cpu);
  if (seed !== undefined) {
    await waitReady(ORIGIN, { method: "POST" });
    const seedRun = await drive(ORIGIN, "seed", seedRequests);
    say(row(`origin listener (${seedRequests} req)`, seedRun));
    say(
      `upbus / origin listener: ${(upbusRun.perSecond / seedRun.perSecond).toFixed(1)}x ` +
        "the throughput (the origin keeps nothing and builds a Kafka producer per request)",
    );
  }
} catch (error) {
  for (const [name, chunks] of childLogs) {
    console.error(`--- ${name}, last lines:\n${logTail(chunks)}`);
  }
  throw error;
} finally {
  await arrivals?.stop();
  await stopChild(seed);
  await stopChild(enrich);
  await stopChild(position);
  await stopChild(service);
  await stopChild(ceiling);
  await sim.shutdown();
  await Deno.remove(dataDir, { recursive: true });
}

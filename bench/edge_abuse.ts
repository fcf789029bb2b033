/**
 * Benchmark: the public listener under abuse. Starts the real service (embedded mode, its own
 * process, the `serve` permission set, default limits unless given), then runs one attack at a
 * time while a legitimate client sends signed webhooks one after another, and prints per attack:
 * connections the service held (peak), connections and requests it refused, its peak RSS and
 * threads and its CPU (from `ps`), the bytes it read from its public connections (its
 * `upbus_http_received_bytes`), log lines written, and the legitimate client's p50/p99 and
 * failures.
 *
 * Attackers connect from 127.0.0.2 upwards (one client address, or 16), the legitimate client
 * from 127.0.0.1. Every loop is bounded in count and time.
 *
 * Usage: deno task bench:edge [--seconds 8] [--forged 10000] [--rounds 1]
 *        [--v8-flags=--max-old-space-size=128]
 *        (--rounds: the attacks again against the same service, to see its memory settle;
 *        --v8-flags: for the service, as deploy/upbus.service's DENO_V8_FLAGS)
 * The bench opens over 1000 connections itself: run it with `ulimit -n` 2048 or more.
 *
 * @module
 */
import net from "node:net";
import { parseArgs } from "node:util";
import { SIGNATURE_HEADER, signBody } from "../lib/webhook/signature.ts";
import { TextLineStream } from "../tests/support/lines.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "8" },
    forged: { type: "string", default: "10000" },
    "v8-flags": { type: "string", default: "" },
    rounds: { type: "string", default: "1" },
  },
});
const SECONDS = Number(values.seconds);
/** `--rounds N` runs the list of attacks N times against one service, to see memory settle. */
const ROUNDS = Number(values.rounds);
const FORGED = Number(values.forged);
const SECRET = "edge-bench-secret";
const PORT = 18_700 + 2 * Math.floor(Math.random() * 100);
/** The private operations listener: /metrics stays reachable while the public one is full. */
const OPS_PORT = PORT + 1;
const ATTACKER_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);
const MAX_BODY_BYTES = 262_144;

const dataDir = `./data/bench-edge-${crypto.randomUUID()}`;
await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
const env: Record<string, string> = { NO_COLOR: "1", PORT: String(PORT), HOST: "127.0.0.1" };
for (const name of ["PATH", "HOME", "DENO_DIR"]) {
  const value = Deno.env.get(name);
  if (value !== undefined) env[name] = value;
}
const service = new Deno.Command("deno", {
  args: [
    "run",
    "-P=serve",
    ...(values["v8-flags"] ? [`--v8-flags=${values["v8-flags"]}`] : []),
    "main.ts",
    "serve",
  ],
  clearEnv: true,
  env: {
    ...env,
    UP_WEBHOOK_SECRETS: SECRET,
    DATA_DIR: dataDir,
    LOG_LEVEL: "info",
    OPS_PORT: String(OPS_PORT),
  },
  stdout: "null",
  stderr: "piped",
}).spawn();
let logLines = 0;
const { promise: listening, resolve: listened } = Promise.withResolvers<void>();
const reading = (async () => {
  const lines = service.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  );
  for await (const line of lines) {
    if (!line.startsWith("{")) continue;
    // The legitimate client's events are logged one line each; the attacks' lines are counted.
    if (!line.includes('"msg":"webhook event accepted"')) logLines++;
    if (line.includes('"msg":"listening"')) listened();
  }
})();
await listening;
const url = `http://127.0.0.1:${PORT}`;

/** The service process's RSS and CPU time (its own metrics) and threads (`ps`: Deno grants
 * another process's /proc files only to --allow-all). */
async function processStats() {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", "nlwp=", "-p", String(service.pid)],
    stdout: "piped",
  }).output();
  const text = await metrics();
  const value = (name: string) => Number(text.match(new RegExp(`^${name} ([\\d.e+]+)$`, "m"))![1]);
  return {
    rssKiB: value("upbus_process_resident_memory_bytes") / 1024,
    threads: Number(new TextDecoder().decode(stdout).trim()),
    cpuSeconds: value("upbus_process_cpu_seconds"),
  };
}

async function metrics(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${OPS_PORT}/metrics`);
  return await response.text();
}

function sum(text: string, name: string): number {
  let total = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "gm"))) {
    total += Number(match[1]);
  }
  return total;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** A new connection for every request, as Up's deliveries, minutes apart, would need. */
const freshConnections = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });

/** Signed webhooks one after another until `until`; latencies of the 200s, and failures. */
async function legitimate(until: number, prefix: string) {
  const latencies: number[] = [];
  let failures = 0;
  for (let i = 0; performance.now() < until && i < 100_000; i++) {
    const body = JSON.stringify({
      data: {
        type: "webhook-events",
        id: `${prefix}-${i}`,
        attributes: { eventType: "PING", createdAt: new Date().toISOString() },
        relationships: {
          webhook: {
            data: { type: "webhooks", id: "bench" },
            links: { related: "https://api.up.com.au/api/v1/webhooks/bench" },
          },
        },
      },
    });
    const started = performance.now();
    try {
      const response = await fetch(`${url}/webhook`, {
        method: "POST",
        headers: { [SIGNATURE_HEADER]: await signBody(body, SECRET) },
        body,
        signal: AbortSignal.timeout(30_000),
        client: freshConnections,
      });
      await response.body?.cancel();
      if (response.status === 200) latencies.push(performance.now() - started);
      else failures++;
    } catch {
      failures++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { latencies: latencies.sort((a, b) => a - b), failures };
}

/** Opens attacker connections; `onOpen` decides what each sends. Returns them for closing. */
function openAttackers(
  count: number,
  addresses: string[],
  onOpen: (socket: net.Socket) => void,
): net.Socket[] {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect({
      host: "127.0.0.1",
      port: PORT,
      localAddress: addresses[i % addresses.length],
    });
    socket.on("error", () => {});
    socket.on("connect", () => onOpen(socket));
    sockets.push(socket);
  }
  return sockets;
}

interface Row {
  attack: string;
  held: number;
  refused: number;
  rssMiB: number;
  threads: number;
  readMiB: number;
  cpu: string;
  logLines: number;
  legitP50: string;
  legitP99: string;
  legitOk: number;
  legitFailed: number;
  note: string;
}
const rows: Row[] = [];

async function run(
  attack: string,
  start: () =>
    | { stop: () => void; note?: () => string }
    | Promise<
      { stop: () => void; note?: () => string }
    >,
) {
  const before = await processStats();
  const metricsBefore = await metrics();
  const linesBefore = logLines;
  const started = performance.now();
  const attacker = await start();
  // The attack settles (its connections open) before the legitimate client starts.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const until = performance.now() + SECONDS * 1000;
  let held = 0;
  let peak = before;
  const sampling = (async () => {
    while (performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const stats = await processStats();
      if (stats.rssKiB > peak.rssKiB) peak = { ...stats };
      peak.threads = Math.max(peak.threads, stats.threads);
      held = Math.max(held, sum(await metrics(), "upbus_http_connections"));
    }
  })();
  const legit = await legitimate(until, `legit-${rows.length}`);
  await sampling;
  const after = await processStats();
  attacker.stop();
  const metricsAfter = await metrics();
  const refused = sum(metricsAfter, "upbus_http_refused_total") -
    sum(metricsBefore, "upbus_http_refused_total") +
    sum(metricsAfter, "upbus_webhooks_rejected_total") -
    sum(metricsBefore, "upbus_webhooks_rejected_total");
  const seconds = (performance.now() - started) / 1000;
  rows.push({
    attack,
    held,
    refused,
    rssMiB: Math.round(peak.rssKiB / 102.4) / 10,
    threads: peak.threads,
    readMiB: Math.round(
      (sum(metricsAfter, "upbus_http_received_bytes") -
        sum(metricsBefore, "upbus_http_received_bytes")) / 1024 / 102.4,
    ) / 10,
    cpu: `${Math.round((after.cpuSeconds - before.cpuSeconds) / seconds * 100)}%`,
    logLines: logLines - linesBefore,
    legitP50: percentile(legit.latencies, 0.5).toFixed(2),
    legitP99: percentile(legit.latencies, 0.99).toFixed(2),
    legitOk: legit.latencies.length,
    legitFailed: legit.failures,
    note: attacker.note?.() ?? "",
  });
  console.error(`done: ${attack}`);
  // Let the timeouts clear what is left before the next attack.
  for (let i = 0; i < 60 && sum(await metrics(), "upbus_http_connections") > 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Sends one byte of `text` per second on each socket until stopped. */
function trickling(sockets: net.Socket[], text: string) {
  let position = 0;
  const timer = setInterval(() => {
    const piece = text[position++ % text.length];
    for (const socket of sockets) if (!socket.destroyed) socket.write(piece);
  }, 1000);
  return () => clearInterval(timer);
}

function holding(count: number, addresses: string[], first: string, trickle?: string) {
  const sockets = openAttackers(count, addresses, (socket) => first && socket.write(first));
  const stopTrickle = trickle ? trickling(sockets, trickle) : () => {};
  return {
    stop() {
      stopTrickle();
      for (const socket of sockets) socket.destroy();
    },
  };
}

try {
  for (let round = 1; round <= ROUNDS; round++) {
    const tag = ROUNDS > 1 ? ` (round ${round})` : "";
    const HEADERS = `POST /webhook HTTP/1.1\r\nHost: x\r\n`;
    await run(`none (baseline)${tag}`, () => ({ stop() {} }));
    await run(
      `slow headers, 1 address, 1000 connections${tag}`,
      () => holding(1000, ATTACKER_ADDRESSES.slice(0, 1), HEADERS, "X-Slow: yes\r\n"),
    );
    await run(
      `slow headers, 16 addresses, 1000 connections${tag}`,
      () => holding(1000, ATTACKER_ADDRESSES, HEADERS, "X-Slow: yes\r\n"),
    );
    await run(`slow body, 16 addresses, 1000 connections${tag}`, () =>
      holding(
        1000,
        ATTACKER_ADDRESSES,
        `${HEADERS}${SIGNATURE_HEADER}: ${"0".repeat(64)}\r\nContent-Length: 100000\r\n\r\n{`,
        "x",
      ));
    await run(`250 KiB bodies stalled, 16 addresses, 1000 connections${tag}`, () =>
      holding(
        1000,
        ATTACKER_ADDRESSES,
        `${HEADERS}${SIGNATURE_HEADER}: ${
          "0".repeat(64)
        }\r\nContent-Length: ${MAX_BODY_BYTES}\r\n\r\n` +
          "x".repeat(250 * 1024),
      ));
    await run(
      `idle, 16 addresses, 1000 connections${tag}`,
      () => holding(1000, ATTACKER_ADDRESSES, ""),
    );

    await run(`2 endless chunked uploads over the cap${tag}`, () => {
      let stopped = false;
      let sent = 0;
      let refusedUploads = 0;
      const chunk = new Uint8Array([
        ...new TextEncoder().encode("10000\r\n"),
        ...new Uint8Array(0x10000).fill(0x78),
        ...new TextEncoder().encode("\r\n"),
      ]);
      const upload = (address: string) => {
        if (stopped) return;
        const socket = net.connect({ host: "127.0.0.1", port: PORT, localAddress: address });
        socket.on("error", () => {});
        socket.on("data", (data: Uint8Array) => {
          if (new TextDecoder().decode(data.subarray(0, 12)) === "HTTP/1.1 413") refusedUploads++;
        });
        socket.on("close", () => setTimeout(() => upload(address), 10));
        socket.on("connect", () => {
          socket.write(
            `${HEADERS}${SIGNATURE_HEADER}: ${
              "0".repeat(64)
            }\r\nTransfer-Encoding: chunked\r\n\r\n`,
          );
          const pump = () => {
            while (!stopped && !socket.destroyed) {
              sent += chunk.length;
              if (!socket.write(chunk)) return void socket.once("drain", pump);
            }
          };
          pump();
        });
      };
      upload(ATTACKER_ADDRESSES[0]);
      upload(ATTACKER_ADDRESSES[1]);
      return {
        stop: () => stopped = true,
        note: () =>
          `${refusedUploads} uploads refused with 413; clients handed ${
            (sent / 1024 / 1024).toFixed(0)
          } MiB to their sockets (${MAX_BODY_BYTES / 1024} KiB cap)`,
      };
    });

    await run(`${FORGED} forged signatures, 256 connections from 16 addresses${tag}`, async () => {
      const body = JSON.stringify({ data: { type: "webhook-events", id: "forged" } });
      const request =
        `${HEADERS}${SIGNATURE_HEADER}: ${await signBody(body, "not-the-secret")}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      let sent = 0;
      let answered = 0;
      const started = performance.now();
      let took = 0;
      const sockets = openAttackers(256, ATTACKER_ADDRESSES, (socket) => {
        const next = () => {
          if (sent >= FORGED) return;
          sent++;
          socket.write(request);
        };
        socket.on("data", (data: Uint8Array) => {
          const text = new TextDecoder().decode(data);
          const answers = text.split("HTTP/1.1 ").length - 1;
          answered += answers;
          if (answered >= FORGED && took === 0) took = performance.now() - started;
          for (let i = 0; i < answers; i++) next();
        });
        next();
      });
      return {
        stop() {
          sent = FORGED;
          for (const socket of sockets) socket.destroy();
        },
        note: () =>
          took
            ? `all ${FORGED} answered 401 in ${(took / 1000).toFixed(1)} s`
            : `${answered} of ${FORGED} answered within the window`,
      };
    });
  }
} finally {
  service.kill("SIGTERM");
}

const { code } = await service.status;
await reading;
await Deno.remove(dataDir, { recursive: true });

console.log(
  `\nupbus public listener under abuse (${SECONDS} s per attack; default limits: headers 10 s, ` +
    `request 20 s, idle 5 s, 256 connections, 32 per client; the service exited ${code}; ` +
    `"held" counts the legitimate client's connection too)\n`,
);
const columns: Array<[keyof Row, string]> = [
  ["attack", "attack"],
  ["held", "held"],
  ["refused", "refused"],
  ["rssMiB", "RSS MiB"],
  ["threads", "threads"],
  ["readMiB", "MiB read"],
  ["cpu", "CPU"],
  ["logLines", "log lines"],
  ["legitOk", "legit 200"],
  ["legitFailed", "legit failed"],
  ["legitP50", "legit p50 ms"],
  ["legitP99", "legit p99 ms"],
];
console.log(`| ${columns.map(([, title]) => title).join(" | ")} |`);
console.log(`|${columns.map(() => " --- ").join("|")}|`);
for (const row of rows) console.log(`| ${columns.map(([key]) => row[key]).join(" | ")} |`);
for (const row of rows.filter((row) => row.note)) console.log(`\n${row.attack}: ${row.note}`);

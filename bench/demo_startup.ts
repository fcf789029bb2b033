/**
 * Benchmark: how long a newcomer waits from `deno task demo` to the first transaction on the
 * dashboard. Runs the real command (free ports, a throwaway DATA_DIR under ./data) several
 * times; for each run, the wall-clock time from spawning `deno task demo` until it prints that
 * the dashboard shows the first transaction, and the demo's own figure (from its runtime's
 * start). Prints the median and the range of both. Each run is stopped with SIGTERM.
 *
 * Usage: deno task bench:demo [--runs 5] [--kafka HOST:PORT]
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" }, kafka: { type: "string" } },
});
const runs = Number(values.runs);
const root = new URL("..", import.meta.url).pathname;

async function once(): Promise<{ wallMs: number; ownMs: number }> {
  const dataDir = `${root}data/bench-demo-${crypto.randomUUID()}`;
  const env: Record<string, string> = { NO_COLOR: "1", DATA_DIR: dataDir };
  for (const name of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  if (values.kafka) env.KAFKA_BROKERS = values.kafka;
  const started = performance.now();
  const child = new Deno.Command("deno", {
    args: ["task", "demo", "--port", "0", "--dashboard-port", "0", "--sim-port", "0"],
    cwd: root,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  let result: { wallMs: number; ownMs: number } | undefined;
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const match = buffer.match(/First transaction on the dashboard (\d+\.\d) s/);
    if (match && result === undefined) {
      result = { wallMs: performance.now() - started, ownMs: Number(match[1]) * 1000 };
      child.kill("SIGTERM");
    }
  }
  await child.status;
  clearTimeout(timer);
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  if (result === undefined) throw new Error("the demo did not show a transaction");
  return result;
}

const results = [];
for (let run = 0; run < runs; run++) results.push(await once());
const median = (values: number[]) =>
  values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const describe = (values: number[]) =>
  `median ${(median(values) / 1000).toFixed(2)} s (${(Math.min(...values) / 1000).toFixed(2)} to ${
    (Math.max(...values) / 1000).toFixed(2)
  } s)`;
console.log(`deno task demo${values.kafka ? ` with Kafka ${values.kafka}` : ""}, ${runs} runs:`);
console.log(
  `  command to first transaction on the dashboard: ${describe(results.map((r) => r.wallMs))}`,
);
console.log(
  `  the demo's own figure (from its runtime's start): ${describe(results.map((r) => r.ownMs))}`,
);

/**
 * Recovery's cost, measured with the real commands: `up-sim` gives up on every delivery while
 * `serve` is stopped (`--events` purchases, a third of them settled, a transfer); `serve` starts
 * again and the bench prints the time from its spawn to its first complete recovery pass, the
 * requests that pass sent to Up, and the requests of a quiet pass after it.
 *
 *   deno task bench:recovery [--events 30]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { TextLineStream } from "../tests/support/lines.ts";
import { createUpClient } from "../lib/up/client.ts";
import { writeWebhookState } from "../lib/up/webhook_state.ts";
import { createSimulatorControl } from "../lib/up_sim/control.ts";

const { values } = parseArgs({ args: Deno.args, options: { events: { type: "string" } } });
const events = Number(values.events ?? 30);
const TOKEN = "up:sim:bench-recovery";
const ROOT = new URL("..", import.meta.url).pathname;

function env(): Record<string, string> {
  const out: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Spawns a command and resolves with the first stdout/stderr line `ready` accepts. */
function spawn(args: string[], extra: Record<string, string>, ready: (line: string) => boolean) {
  const child = new Deno.Command("deno", {
    args,
    cwd: ROOT,
    clearEnv: true,
    env: { ...env(), ...extra },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const { promise, resolve } = Promise.withResolvers<string>();
  for (const stream of [child.stdout, child.stderr]) {
    (async () => {
      for await (
        const line of stream.pipeThrough(new TextDecoderStream()).pipeThrough(
          new TextLineStream(),
        )
      ) {
        lines.push(line);
        if (ready(line)) resolve(line);
      }
    })();
  }
  return { child, lines, ready: promise };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const sim = spawn(
  [
    "run",
    "-q",
    "-P=up-sim",
    "main.ts",
    "up-sim",
    "--port",
    "0",
    "--token",
    TOKEN,
    "--seed",
    "0",
    "--retry-schedule",
    "50ms,50ms",
    "--give-up",
    "1s",
    "--in-memory",
  ],
  {},
  (line) => line.startsWith("Up simulator listening on "),
);
const baseUrl = (await sim.ready).split(" ").at(-1)!;
const dataDir = `${ROOT}data/bench-recovery-${Date.now()}`;
await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
const port = freePort();
const up = createUpClient({ token: TOKEN, baseUrl });
const control = createSimulatorControl({ baseUrl, token: TOKEN });
const webhook = await up.webhooks.create({ url: `http://127.0.0.1:${port}/webhook` });
await writeWebhookState(dataDir, {
  version: 1,
  webhooks: [{
    id: webhook.id,
    url: webhook.attributes.url,
    description: null,
    secretKey: webhook.attributes.secretKey!,
    createdAt: webhook.attributes.createdAt,
  }],
});
const serveEnv = {
  HOST: "127.0.0.1",
  PORT: String(port),
  DATA_DIR: dataDir,
  UP_API_BASE: baseUrl,
  UP_API_TOKEN: TOKEN,
  LOG_FORMAT: "json",
  RECOVERY_INTERVAL_SECONDS: "3600",
  RECONCILE_GRACE_SECONDS: "0",
};

/** Starts serve, waits for its first complete pass; returns the time and the pass's line. */
async function servePass() {
  const started = performance.now();
  const serve = spawn(
    ["run", "-q", "-P=serve", "main.ts", "serve"],
    serveEnv,
    (line) => line.includes('"recovery pass complete"'),
  );
  const line = JSON.parse(await serve.ready);
  const ms = performance.now() - started;
  serve.child.kill("SIGTERM");
  await serve.child.status;
  return { ms, pass: line as { requests: number; recovered: number; reconciled: number } };
}

try {
  await servePass(); // the first pass ever: it sets the point known complete
  const ids: string[] = [];
  for (let i = 0; i < events; i++) {
    ids.push((await control.createTransaction({ amount: "-5.00", description: `B${i}` })).id);
  }
  const settled = ids.filter((_, i) => i % 3 === 0);
  for (const id of settled) await control.settleTransaction(id);
  await control.transfer({ amount: "10.00" });
  const missed = events + settled.length + 2;
  while (
    (await Array.fromAsync(up.webhooks.logs(webhook.id, { pageSize: 100 }))).length < missed * 3
  ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const after = await servePass();
  const quiet = await servePass();
  console.log(
    `${missed} events missed (${events} purchases, ${settled.length} settlements, a transfer's 2 legs)`,
  );
  console.log(
    `serve spawned to a complete pass: ${
      (after.ms / 1000).toFixed(2)
    } s, ${after.pass.requests} requests to Up, ${after.pass.recovered} recovered, ${after.pass.reconciled} reconciled`,
  );
  console.log(
    `a quiet pass: ${quiet.pass.requests} requests to Up (${
      (quiet.ms / 1000).toFixed(2)
    } s from spawn)`,
  );
} finally {
  sim.child.kill("SIGTERM");
  await sim.child.status;
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}

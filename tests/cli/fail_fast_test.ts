/**
 * Fail fast and say why, as a user runs the commands (each under its own permission set): a
 * wrong token stops enrich, consume position and backfill at start with register-webhook's
 * message; a port in use names the port and the variable that moves it; a backfill run again
 * says it published nothing.
 *
 * Permissions: as the test task (`--allow-run=deno`, loopback, the env of a `deno` child).
 */
import assert from "node:assert/strict";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { testBrokers } from "../support/kafka.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { runUpbus, type UpbusProgram } from "../support/upbus_program.ts";

function task(permissionSet: string): UpbusProgram {
  return { command: "deno", prefix: ["run", `-P=${permissionSet}`, "--no-prompt", "main.ts"] };
}

const TOKEN_REFUSED =
  "Cannot check the token: the token was rejected (HTTP 401), check UP_API_TOKEN";

Deno.test("a wrong token stops enrich, consume position and backfill at start, as register-webhook says it", async (t) => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 1 });
  const dataDir = await serviceDataDir();
  const env = { UP_API_BASE: sim.baseUrl, UP_API_TOKEN: "up:yeah:wrong", DATA_DIR: dataDir };
  try {
    const register = await runUpbus(task("register-webhook"), [
      "register-webhook",
      "--url",
      "http://127.0.0.1:1/webhook",
    ], { env });
    assert.equal(register.code, 1);
    assert.match(register.stderr, new RegExp(`upbus register-webhook: ${escape(TOKEN_REFUSED)}`));
    const commands: Array<[string, string[]]> = [
      ["enrich", ["enrich"]],
      ["consume", ["consume", "position"]],
      ["backfill", ["backfill", "--since", "2026-01-01"]],
    ];
    for (const [set, args] of commands) {
      await t.step(`${args.join(" ")} stops with the same message`, async () => {
        const run = await runUpbus(task(set), args, {
          env: { ...env, DASHBOARD_PORT: "0" },
          timeoutMs: 30_000,
        });
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, new RegExp(`upbus ${args[0]}: ${escape(TOKEN_REFUSED)}`));
        assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
      });
    }
    await t.step(
      "enrich with Kafka stops with the same message once the broker answered",
      async () => {
        const run = await runUpbus(task("enrich"), ["enrich"], {
          env: {
            ...env,
            KAFKA_BROKERS: await testBrokers(),
            KAFKA_TOPIC: `upbus-fail-fast-${crypto.randomUUID()}`,
            TRANSACTIONS_TOPIC: `upbus-fail-fast-${crypto.randomUUID()}`,
          },
          timeoutMs: 60_000,
        });
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, new RegExp(`upbus enrich: ${escape(TOKEN_REFUSED)}`));
        assert.doesNotMatch(run.stderr, /enricher running/, "the token is checked before");
      },
    );
  } finally {
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("a port in use names the port and the variable that sets it", async (t) => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(taken.addr.port);
  const dataDir = await serviceDataDir();
  try {
    const cases: Array<[string, string[], Record<string, string>, string]> = [
      ["serve", ["serve"], { HOST: "127.0.0.1", PORT: port }, "PORT"],
      ["serve", ["serve"], { HOST: "127.0.0.1", PORT: "0", OPS_PORT: port }, "OPS_PORT"],
      ["consume", ["consume", "position"], { DASHBOARD_PORT: port }, "DASHBOARD_PORT"],
    ];
    for (const [set, args, env, variable] of cases) {
      await t.step(`${args.join(" ")} names ${variable}`, async () => {
        const run = await runUpbus(task(set), args, {
          env: { ...env, DATA_DIR: dataDir, LOG_FORMAT: "json" },
          timeoutMs: 30_000,
        });
        assert.equal(run.code, 1, run.stderr);
        assert.match(
          run.stderr,
          new RegExp(
            `127\\.0\\.0\\.1:${port}: the address is in use.*set ${variable} to a free port`,
          ),
        );
        assert.doesNotMatch(run.stderr, /os error 98|\n\s+at /);
      });
    }
  } finally {
    taken.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a backfill run again over a finished range says it published nothing", async () => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 4 });
  const dataDir = await serviceDataDir();
  const env = { UP_API_BASE: sim.baseUrl, UP_API_TOKEN: sim.token, DATA_DIR: dataDir };
  const since = new Date(Date.now() - 365 * 24 * 3_600_000).toISOString().slice(0, 10);
  try {
    const first = await runUpbus(task("backfill"), ["backfill", "--since", since], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /: 4 transaction records published to .* by this run\.$/m);
    const again = await runUpbus(task("backfill"), ["backfill", "--since", since], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      /: 0 transaction records published to .* by this run \(4 over every run/,
    );
  } finally {
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

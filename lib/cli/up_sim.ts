/**
 * `upbus up-sim`: runs the local Up simulator until SIGINT or SIGTERM, and says which
 * `UP_API_BASE` and `UP_API_TOKEN` to use with it.
 *
 * @module
 */
import { durationMs, parseFlags, wholeNumber } from "./args.ts";
import { DEFAULT_SIM_TOKEN } from "../up_sim/app.ts";
import { serveUpSimulator } from "../up_sim/server.ts";
import { type Command, UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";

const USAGE = `Usage: upbus up-sim [--port 8787] [--hostname 127.0.0.1] [--token TOKEN]
                    [--seed 25] [--retry-schedule 1s,5s,30s,2m,10m] [--give-up 15m]
                    [--month] [--state FILE | --in-memory]

Runs a local Up API simulator for development and tests: /util/ping, accounts, categories,
transactions and webhooks under /api/v1, with signed webhook delivery (30 s timeout, only
HTTP 200 counts, retries, delivery logs). Control it with \`upbus simulate\`, or its API
under /__sim. Its accounts, transactions and webhooks (with their secrets) are kept in
DATA_DIR/up-sim.json (owner-only), so a restart continues where it stopped; delivery logs
are kept in memory only. Delete the file to start afresh.

Options:
  --port N             port to listen on (default 8787)
  --hostname HOST      interface to listen on (default 127.0.0.1)
  --token TOKEN        bearer token to accept (default ${DEFAULT_SIM_TOKEN}, a fake)
  --seed N             settled transactions to start with (default 25)
  --month              also start with a month of pay, rent, bills and transfers to savings
                       before them, so the dashboard's 30-day charts have a story
  --retry-schedule LIST  delays before each delivery retry, comma-separated durations
                       (500ms, 5s, 2m, 1h; default 1s,5s,30s,2m,10m); "none" retries never
  --give-up DURATION   stop retrying a delivery this long after its first attempt, whatever
                       is left of the schedule (default: when the schedule ends); Up then
                       shows its last attempt in the delivery logs, UNDELIVERABLE or
                       BAD_RESPONSE_CODE
  --retry-delays LIST  the same schedule in milliseconds (older spelling)
  --state FILE         where to keep the state (default DATA_DIR/up-sim.json, else
                       ./data/up-sim.json)
  --in-memory          keep no state file: everything is gone when it stops`;

/**
 * Creates the `up-sim` command.
 *
 * @param overrides Parts of the outside world to replace (tests pass `out` and `stopped`).
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createUpSimCommand } from "./up_sim.ts";
 * if (createUpSimCommand().name !== "up-sim") throw new Error("unexpected");
 * ```
 */
export function createUpSimCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "up-sim",
    summary: "run a local Up API simulator that delivers signed webhook events",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      // Listening from the start, so a Ctrl-C while it starts still gets the orderly stop.
      const stopped = context.stopped();
      const { values } = parseFlags(args, {
        port: { type: "string" },
        hostname: { type: "string" },
        token: { type: "string" },
        seed: { type: "string" },
        "retry-delays": { type: "string" },
        "retry-schedule": { type: "string" },
        "give-up": { type: "string" },
        state: { type: "string" },
        "in-memory": { type: "boolean" },
        month: { type: "boolean" },
      });
      if (values.state !== undefined && values["in-memory"]) {
        throw new UsageError("--state and --in-memory contradict each other, pass one");
      }
      const statePath = values["in-memory"] ? undefined : values.state ??
        `${(context.env("DATA_DIR") || "./data").replace(/\/+$/, "")}/up-sim.json`;
      const port = wholeNumber(values.port, { flag: "port", fallback: 8787, max: 65535 });
      const seedTransactions = wholeNumber(values.seed, {
        flag: "seed",
        fallback: 25,
        max: 10_000,
      });
      if (values["retry-delays"] !== undefined && values["retry-schedule"] !== undefined) {
        throw new UsageError("--retry-delays and --retry-schedule say the same thing, pass one");
      }
      const schedule = values["retry-schedule"];
      const retryDelaysMs = schedule !== undefined
        ? (schedule.trim() === "none"
          ? []
          : schedule.split(",").map((item) => durationMs(item, "retry-schedule")))
        : values["retry-delays"]?.split(",").map((item) =>
          wholeNumber(item.trim(), { flag: "retry-delays", fallback: 0, max: 86_400_000 })
        );
      const giveUpMs = values["give-up"] === undefined
        ? undefined
        : durationMs(values["give-up"], "give-up");
      const token = values.token ?? DEFAULT_SIM_TOKEN;
      let sim;
      try {
        sim = serveUpSimulator({
          port,
          hostname: values.hostname ?? "127.0.0.1",
          token,
          seedTransactions,
          seedMonth: values.month ?? false,
          retryDelaysMs,
          giveUpMs,
          statePath,
        });
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) {
          context.err(
            `upbus up-sim: Cannot start the simulator: port ${port} is in use, pass --port`,
          );
          return 1;
        }
        if (error instanceof SyntaxError) {
          context.err(`upbus up-sim: ${error.message}`);
          return 1;
        }
        if (
          error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
        ) {
          context.err(
            `upbus up-sim: Cannot keep the simulator's state in ${statePath}: ${
              error instanceof Deno.errors.NotCapable
                ? "this command may write only under ./data"
                : "the file or its directory is not writable"
            }; set DATA_DIR to a writable directory, or pass --in-memory`,
          );
          return 1;
        }
        throw error;
      }
      context.out(`Up simulator listening on ${sim.baseUrl}`);
      context.out(
        statePath === undefined
          ? "State: in memory only, gone when it stops"
          : `State: ${statePath} (accounts, transactions, webhooks; delete it to start afresh)`,
      );
      context.out("Point upbus at it with:");
      context.out(`  export UP_API_BASE=${sim.baseUrl}`);
      context.out(`  export UP_API_TOKEN=${token}`);
      context.out("Then: deno task register-webhook --url http://127.0.0.1:8080/webhook");
      context.out("      deno task simulate transaction-created");
      const signal = await stopped;
      context.out(`Stopping the simulator (${signal})`);
      await sim.shutdown();
      return 0;
    },
  };
}

/** The `up-sim` command. */
export const upSimCommand: Command = createUpSimCommand();

/**
 * Several commands started at the same moment on a fresh data directory all start: `enrich`,
 * `consume ledger` and `consume notify` each create and open the shared local log
 * (`DATA_DIR/pipeline.db`) and their own files together, twenty times over, and every one of
 * them says it runs, then stops cleanly on SIGTERM. Before `openSqlite`, one in about twelve
 * starts ended with `upbus consume: database is locked`: the switch of a fresh file to WAL takes
 * a write lock that `busy_timeout` does not wait for.
 *
 * Permissions: as the test task (`--allow-run=deno`, the env of a `deno` child).
 */
import assert from "node:assert/strict";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { type RunningUpbus, startUpbus, type UpbusProgram } from "../support/upbus_program.ts";

const ROUNDS = 20;

function task(permissionSet: string): UpbusProgram {
  return { command: "deno", prefix: ["run", `-P=${permissionSet}`, "--no-prompt", "main.ts"] };
}

const RULES = `targets:
  hook:
    type: ntfy
    url: http://127.0.0.1:9
    topic: never-sent
rules:
  - name: everything
    notify:
      - target: hook
        message: "{{description}}"
`;

Deno.test("enrich, consume ledger and consume notify started together on a fresh data directory all start, twenty times", async () => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 1 });
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const dataDir = await serviceDataDir();
      await Deno.writeTextFile(`${dataDir}/notify.yaml`, RULES);
      const env = {
        UP_API_BASE: sim.baseUrl,
        UP_API_TOKEN: sim.token,
        DATA_DIR: dataDir,
        LOG_FORMAT: "json",
        NOTIFY_RULES: `${dataDir}/notify.yaml`,
      };
      const running = (log: Record<string, unknown> | undefined) =>
        log?.msg === "consumer running" ? true : undefined;
      const starts = await Promise.allSettled([
        startUpbus(task("enrich"), ["enrich"], {
          env,
          ready: (_line, log) => log?.msg === "enricher running" ? true : undefined,
        }),
        startUpbus(task("consume"), ["consume", "ledger"], {
          env,
          ready: (_line, log) => running(log),
        }),
        startUpbus(task("consume"), ["consume", "notify"], {
          env,
          ready: (_line, log) => running(log),
        }),
      ]);
      const started = starts.flatMap((start) =>
        start.status === "fulfilled" ? [start.value[0]] : []
      ) as RunningUpbus[];
      const stops = await Promise.all(started.map((command) => command.stop("SIGTERM")));
      const failures = starts.flatMap((start) =>
        start.status === "rejected" ? [(start.reason as Error).message] : []
      );
      assert.deepEqual(failures, [], `round ${round + 1}: ${failures.join("\n")}`);
      assert.deepEqual(stops.map((stop) => stop.code), [0, 0, 0], `round ${round + 1}`);
      await Deno.remove(dataDir, { recursive: true });
    }
  } finally {
    await sim.shutdown();
  }
});

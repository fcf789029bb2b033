/**
 * The Raspberry Pi without Kafka: `backfill`, `enrich`, `consume position` and `consume console`
 * run as a user runs them (`deno run -P=<their permission set> main.ts ...`, no KAFKA_BROKERS),
 * say at startup that they are in embedded mode, and together put history and a new simulated
 * transaction on the dashboard and the console, from the local store and the local log alone.
 *
 * Permissions: as the test task (`--allow-run=deno`, the env of a `deno` child).
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../lib/service/config.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { startService } from "../../lib/service/service.ts";
import { createSimulatorControl } from "../../lib/up_sim/control.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { waitFor } from "../support/pipeline.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { runUpbus, startUpbus, type UpbusProgram } from "../support/upbus_program.ts";

const quiet = createLogger({ write: () => {} });

/** `deno run -P=<set> main.ts`: a subcommand under its own permission set, as its task runs it. */
function task(permissionSet: string): UpbusProgram {
  return { command: "deno", prefix: ["run", `-P=${permissionSet}`, "--no-prompt", "main.ts"] };
}

function embeddedLine(log: Record<string, unknown> | undefined): boolean {
  return typeof log?.msg === "string" && log.msg.startsWith("embedded mode: KAFKA_BROKERS");
}

Deno.test("backfill, enrich and consume work without Kafka, each under its own permission set", async (t) => {
  const dataDir = await serviceDataDir();
  const sim = serveUpSimulator({ port: 0, seedTransactions: 3, retryDelaysMs: [100, 500] });
  const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus");
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    UP_WEBHOOK_SECRETS: webhook.secretKey,
  };
  const service = await startService(loadConfig((name) => env[name]), { logger: quiet });
  webhook.url = `http://127.0.0.1:${service.address.port}/webhook`;
  const commandEnv = { UP_API_BASE: sim.baseUrl, UP_API_TOKEN: sim.token, DATA_DIR: dataDir };
  const seeded = sim.bank.transactionsNewestFirst().map((transaction) => transaction.description);
  try {
    await t.step(
      "consume console --last 5 on an empty up.transactions says enrich fills it",
      async () => {
        const [empty] = await startUpbus(task("consume"), ["consume", "console", "--last", "5"], {
          env: { ...commandEnv, LOG_FORMAT: "json" },
          ready: (_line, log) =>
            String(log?.msg).startsWith("waiting for new transactions") ? true : undefined,
        });
        const { code } = await empty.stop("SIGTERM");
        assert.equal(code, 0, empty.err.join("\n"));
        assert.deepEqual(empty.out, []);
        assert.ok(
          empty.logs.some((log) =>
            log.msg ===
              "up.transactions is empty: `deno task enrich` fills it from the webhook events (and `deno task backfill --since YYYY-MM-DD` with past transactions)"
          ),
          empty.err.join("\n"),
        );
      },
    );

    await t.step("backfill imports the history into the local log and says so", async () => {
      const since = new Date(Date.now() - 365 * 24 * 3_600_000).toISOString().slice(0, 10);
      const run = await runUpbus(task("backfill"), ["backfill", "--since", since], {
        env: commandEnv,
      });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stderr, /embedded mode: KAFKA_BROKERS is not set/);
      assert.match(run.stdout, /3 transaction records published to up\.transactions in the local/);
    });

    await t.step("consume console --last 2 prints the two newest, then says it waits", async () => {
      const [history] = await startUpbus(task("consume"), ["consume", "console", "--last", "2"], {
        env: { ...commandEnv, LOG_FORMAT: "json" },
        ready: (_line, log) =>
          String(log?.msg).startsWith("waiting for new transactions") ? true : undefined,
      });
      const { code } = await history.stop("SIGTERM");
      assert.equal(code, 0, history.err.join("\n"));
      assert.equal(history.out.length, 2, history.out.join("\n"));
      assert.ok(history.out[0].includes(seeded[1]), history.out.join("\n"));
      assert.ok(history.out[1].includes(seeded[0]), history.out.join("\n"));
    });

    const [enricher] = await startUpbus(task("enrich"), ["enrich"], {
      env: commandEnv,
      ready: (_line, log) => embeddedLine(log) ? true : undefined,
    });
    const [position, dashboardUrl] = await startUpbus(task("consume"), [
      "consume",
      "position",
    ], {
      env: { ...commandEnv, DASHBOARD_PORT: "0" },
      ready: (_line, log) => log?.msg === "dashboard listening" ? String(log.url) : undefined,
    });
    const [printer] = await startUpbus(task("consume"), ["consume", "console"], {
      env: commandEnv,
      ready: (_line, log) => log?.msg === "consumer running" ? true : undefined,
    });
    const page = async () => {
      const response = await fetch(dashboardUrl);
      return await response.text();
    };
    try {
      await t.step("each long-running command says it runs in embedded mode", () => {
        assert.ok(enricher.logs.some(embeddedLine), enricher.err.join("\n"));
        assert.ok(position.logs.some(embeddedLine), position.err.join("\n"));
        assert.ok(printer.logs.some(embeddedLine), printer.err.join("\n"));
      });
      await t.step("the dashboard shows the backfilled history", async () => {
        await waitFor(async () => (await page()).includes(seeded[0]), "the history");
      });
      await t.step(
        "a simulated transaction reaches the dashboard through the enricher",
        async () => {
          const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
          await control.createTransaction({ amount: "-23.45", description: "Embedded Cafe" });
          await waitFor(async () => (await page()).includes("Embedded Cafe"), "the new one");
          const enriched = enricher.logs.filter((log) => log.msg === "enriched transaction");
          assert.equal(enriched.length, 1, enricher.err.join("\n"));
          assert.equal(enriched[0].status, "HELD");
          assert.equal(enriched[0].event, "TRANSACTION_CREATED");
        },
      );
      await t.step(
        "consume console prints it, and only what happened after it started",
        async () => {
          await waitFor(() => printer.out.some((line) => line.includes("Embedded Cafe")), "a line");
          assert.equal(printer.out.length, 1, printer.out.join("\n"));
          assert.match(
            printer.out[0],
            /HELD\s+-\$23\.45\s+Embedded Cafe {2}\[Restaurants & Cafes\]$/,
          );
        },
      );
    } finally {
      const stops = await Promise.all(
        [enricher, position, printer].map((command) => command.stop("SIGTERM")),
      );
      assert.deepEqual(stops.map((stop) => stop.code), [0, 0, 0]);
    }
  } finally {
    await service.shutdown();
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

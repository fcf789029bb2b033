/**
 * `upbus demo`: the whole pipeline on this machine in one command, with the Up simulator in the
 * bank's place: simulator, webhook service, enricher and position dashboard in this process
 * (embedded mode, or Kafka when `KAFKA_BROKERS` is set), the webhook registered with the
 * simulator, a few simulated purchases sent, and the dashboard's address printed. Ctrl-C or
 * SIGTERM stops every piece, in order.
 *
 * It reuses the commands themselves (`register-webhook`, `simulate`, `enrich`, `consume
 * position`, `backfill`) with an environment of its own, so what the demo shows is what they do.
 *
 * @module
 */
import { loadConfig } from "../service/config.ts";
import { createKafka } from "../bus/kafka/client.ts";
import { createLogger } from "../runtime/log.ts";
import { startService } from "../service/service.ts";
import { DEFAULT_SIM_TOKEN } from "../up_sim/app.ts";
import { serveUpSimulator } from "../up_sim/server.ts";
import { parseFlags, wholeNumber } from "./args.ts";
import { createBackfillCommand } from "./backfill.ts";
import type { Command } from "./command.ts";
import { createConsumeCommand } from "./consume.ts";
import { type CliContext, cliContext } from "./context.ts";
import { createEnrichCommand } from "./enrich.ts";
import { createRegisterWebhookCommand } from "./register_webhook.ts";
import { createSimulateCommand } from "./simulate.ts";

const USAGE = `Usage: upbus demo [--port 8080] [--dashboard-port 8081] [--sim-port 8787]

Runs the whole pipeline on this machine, with the Up simulator in the bank's place: the
simulator, the webhook service, the enricher and the position dashboard, together in this
process. It registers the webhook with the simulator, sends a few simulated purchases, imports
the simulator's last 30 days as a backfill does, prints the dashboard's address and what to try
next, and runs until Ctrl-C (or SIGTERM).

Embedded mode (no Kafka) unless KAFKA_BROKERS is set; with Kafka it uses topics of its own,
upbus-demo-<time>.*, and deletes them when it stops. Its data lives in DATA_DIR/demo
(./data/demo), emptied at each start: the simulator keeps its bank in memory. Your own
UP_API_TOKEN and webhook secrets are not used. Pieces log at LOG_LEVEL (default warn here).

Options:
  --port N             port of the webhook service (default 8080; 0 picks a free one)
  --dashboard-port N   port of the dashboard (default 8081; 0 picks a free one)
  --sim-port N         port of the Up simulator (default 8787; 0 picks a free one)`;

/** The purchases the demo makes. */
const PURCHASES = [
  { amount: "-4.50", description: "Campos Coffee" },
  { amount: "-62.30", description: "Harris Farm Markets" },
  { amount: "-18.00", description: "Opal Travel" },
] as const;

/** A port number, a free one for 0 (picked now; the piece listens on it a moment later). */
function choosePort(port: number, flag: string): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port });
  const chosen = (probe.addr as Deno.NetAddr).port;
  probe.close();
  if (port !== 0 && chosen !== port) throw new Error(`Cannot use port ${port}: pass --${flag}`);
  return chosen;
}

function portInUse(port: number, flag: string): Error {
  return new Error(
    `Cannot start the demo: port ${port} is in use (another demo, or upbus itself?), pass --${flag} with a free port, or 0`,
  );
}

async function dashboardShows(url: string, text: string, fetcher: typeof fetch): Promise<boolean> {
  for (const path of ["position.json", ""]) {
    try {
      const response = await fetcher(new URL(path, url), { signal: AbortSignal.timeout(2000) });
      if ((await response.text()).includes(text)) return true;
    } catch { /* not up yet */ }
  }
  return false;
}

/**
 * Creates the `demo` command.
 *
 * @param overrides Parts of the outside world to replace.
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createDemoCommand } from "./demo.ts";
 * if (createDemoCommand().name !== "demo") throw new Error("unexpected");
 * ```
 */
export function createDemoCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "demo",
    summary:
      "the whole pipeline on this machine, with the Up simulator: one command to a live dashboard",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const { values } = parseFlags(args, {
        port: { type: "string" },
        "dashboard-port": { type: "string" },
        "sim-port": { type: "string" },
      });
      const ports: Record<string, number> = {};
      for (
        const [flag, fallback] of [["port", 8080], ["dashboard-port", 8081], ["sim-port", 8787]]
      ) {
        const wanted = wholeNumber(values[flag as keyof typeof values], {
          flag: flag as string,
          fallback: fallback as number,
          max: 65535,
        });
        try {
          ports[flag] = choosePort(wanted, flag as string);
        } catch (error) {
          if (error instanceof Deno.errors.AddrInUse) throw portInUse(wanted, flag as string);
          throw error;
        }
      }
      // Stops every piece: a signal, or a piece that failed.
      const halt = Promise.withResolvers<string>();
      const stopSignal = Promise.race([context.stopped(), halt.promise]);
      let stopRequested = false;
      stopSignal.then(() => stopRequested = true);
      let failed = false;
      const watch = (name: string, run: Promise<number>) =>
        run.then((code) => {
          if (code !== 0 || !stopRequested) {
            failed = true;
            halt.resolve(`${name} stopped`);
          }
          return code;
        }, (error) => {
          failed = true;
          context.err(`upbus demo: ${name}: ${(error as Error)?.message ?? error}`);
          halt.resolve(`${name} failed`);
          return 1;
        });

      // Step 1: a data directory of its own, empty.
      const base = (context.env("DATA_DIR")?.trim() || "./data").replace(/\/+$/, "");
      const dataDir = `${base}/demo`;
      await Deno.remove(dataDir, { recursive: true }).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });

      // Step 2: the simulator.
      let sim;
      try {
        // The month `up-sim --month` makes: pay, rent, bills and savings, so the charts are full.
        sim = serveUpSimulator({
          port: ports["sim-port"],
          token: DEFAULT_SIM_TOKEN,
          seedMonth: true,
        });
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) throw portInUse(ports["sim-port"], "sim-port");
        throw error;
      }
      const kafkaBrokers = context.env("KAFKA_BROKERS")?.trim() ?? "";
      const runId = new Date(context.now()).toISOString().replace(/\D/g, "").slice(0, 14);
      const topics: Record<string, string> = kafkaBrokers
        ? {
          KAFKA_TOPIC: `upbus-demo-${runId}.webhook-events`,
          TRANSACTIONS_TOPIC: `upbus-demo-${runId}.transactions`,
          // Groups of its own too: a group named like the user's own enricher would share
          // (and fight over) its members.
          CONSUMER_GROUP_PREFIX: `upbus-demo-${runId}`,
        }
        : {};
      const demoEnv: Record<string, string> = {
        UP_API_BASE: sim.baseUrl,
        UP_API_TOKEN: sim.token,
        UP_WEBHOOK_SECRETS: "",
        DATA_DIR: dataDir,
        HOST: "127.0.0.1",
        PORT: String(ports.port),
        OPS_PORT: "",
        DASHBOARD_HOST: "127.0.0.1",
        DASHBOARD_PORT: String(ports["dashboard-port"]),
        LOG_LEVEL: context.env("LOG_LEVEL")?.trim() || "warn",
        ...topics,
      };
      const env = (name: string) => name in demoEnv ? demoEnv[name] : context.env(name);
      const indent = (line: string) => context.out(`  ${line}`);
      const piece = { ...overrides, env, out: indent, err: context.err, stopped: () => stopSignal };
      const config = loadConfig(env);
      const logger = createLogger({ level: config.logLevel, format: config.logFormat });
      const running: Array<Promise<number>> = [];
      let service;
      try {
        context.out(`Up simulator on ${sim.baseUrl}`);
        // Step 3: the webhook service.
        try {
          service = await startService(config, { logger });
        } catch (error) {
          if (error instanceof Deno.errors.AddrInUse) throw portInUse(ports.port, "port");
          throw error;
        }
        const webhookUrl = `http://127.0.0.1:${service.address.port}/webhook`;
        context.out(
          `upbus serve on ${webhookUrl} (${
            kafkaBrokers ? `Kafka ${kafkaBrokers}` : "embedded mode"
          })`,
        );
        // Step 4: the webhook, registered with the simulator as with Up.
        context.out("Registering the webhook with the simulator:");
        const registered = await createRegisterWebhookCommand(piece).run(["--url", webhookUrl]);
        if (registered !== 0) throw new Error("Cannot start the demo: register-webhook failed");
        // Step 5: the enricher and the position dashboard.
        running.push(watch("enrich", createEnrichCommand(piece).run([])));
        running.push(watch("consume position", createConsumeCommand(piece).run(["position"])));
        const dashboardUrl = `http://127.0.0.1:${ports["dashboard-port"]}/`;
        // Step 6: a few purchases, as Up would deliver them.
        context.out("Sending simulated purchases:");
        for (const purchase of PURCHASES) {
          if (stopRequested) break;
          await createSimulateCommand(piece).run([
            "transaction-created",
            "--amount",
            purchase.amount,
            "--description",
            purchase.description,
          ]);
        }
        const deadline = context.now() + 60_000;
        let shown = false;
        while (!stopRequested && context.now() < deadline) {
          const onDashboard = await Promise.race([
            dashboardShows(dashboardUrl, PURCHASES[0].description, context.fetch),
            stopSignal.then(() => false),
          ]);
          if (onDashboard) {
            context.out(
              `First transaction on the dashboard ${
                (performance.now() / 1000).toFixed(1)
              } s after the demo started.`,
            );
            shown = true;
            break;
          }
          await context.sleep(100);
        }
        if (!shown && !stopRequested) {
          throw new Error("Cannot run the demo: no transaction reached the dashboard within 60 s");
        }
        // Step 7: the simulator's history, as a backfill brings a real account's.
        if (!stopRequested) {
          context.out("Importing the simulator's last 30 days (deno task backfill):");
          const since = new Date(context.now() - 30 * 86_400_000).toISOString().slice(0, 10);
          const backfilled = await createBackfillCommand(piece).run(["--since", since]);
          if (backfilled !== 0) throw new Error("Cannot run the demo: the backfill failed");
        }
        if (!stopRequested) {
          context.out("");
          context.out(`Dashboard: ${dashboardUrl}`);
          context.out("");
          context.out("Try next, in another terminal:");
          context.out(
            `  export UP_API_BASE=${sim.baseUrl} UP_API_TOKEN=${sim.token} DATA_DIR=${dataDir}`,
          );
          if (kafkaBrokers) {
            context.out(
              `  export KAFKA_BROKERS=${kafkaBrokers} KAFKA_TOPIC=${topics.KAFKA_TOPIC} TRANSACTIONS_TOPIC=${topics.TRANSACTIONS_TOPIC}`,
            );
          }
          context.out(
            '  deno task simulate transaction-created --amount -9.80 --description "Bakery"',
          );
          context.out("  deno task simulate transaction-settled   # settles the newest held one");
          context.out("  deno task consume console --last 5        # the latest, then live");
          context.out(
            "  deno task webhooks list                   # deliveries, as Up reports them",
          );
          context.out('Then the real bank: README.md, "With your Up account".');
          context.out("Ctrl-C stops the demo.");
        }
        const signal = await stopSignal;
        context.out(`Stopping the demo (${signal})`);
      } finally {
        stopRequested = true;
        halt.resolve("stopping");
        await Promise.all(running);
        await service?.shutdown();
        await sim.shutdown();
        if (kafkaBrokers) {
          await deleteDemoTopics(
            kafkaBrokers,
            [topics.KAFKA_TOPIC, topics.TRANSACTIONS_TOPIC],
            topics.CONSUMER_GROUP_PREFIX,
          );
        }
      }
      return failed ? 1 : 0;
    },
  };
}

async function deleteDemoTopics(
  brokers: string,
  topics: string[],
  groupPrefix: string,
): Promise<void> {
  const admin = createKafka({ brokers: brokers.split(",").map((b) => b.trim()) }).admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const demo = [...topics, `${topics[0]}.dlq`].filter((topic) => existing.has(topic));
    if (demo.length > 0) await admin.deleteTopics({ topics: demo });
    const { groups } = await admin.listGroups();
    const own = groups.map((group) => group.groupId).filter((id) =>
      id.startsWith(`${groupPrefix}-`)
    );
    if (own.length > 0) await admin.deleteGroups(own);
  } catch {
    /* best effort: the topics are named upbus-demo-* */
  } finally {
    await admin.disconnect();
  }
}

/** The `demo` command. */
export const demoCommand: Command = createDemoCommand();

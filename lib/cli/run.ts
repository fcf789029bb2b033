/**
 * @module run command
 * `upbus run`: the webhook service and the stages the user chooses (`enrich`, `position`,
 * `notify`, `ledger`, `actual`, `mqtt`) in one process, from one configuration (the
 * environment, ./.env, a unit's EnvironmentFile=). Each stage is started by the same function
 * as its own command (`startEnrichStage`, `startConsumeStage`) and supervised
 * (`superviseStage`): one that fails is started again after a doubling backoff, from its
 * committed position, while the others run on. `/readyz` has a check per stage and `/metrics`
 * their series (lib/service/stage_board.ts). Both modes, embedded and Kafka.
 */
import { ConsumerFailure, type ConsumerMessage } from "../bus/consumer.ts";
import { loadConfig } from "../service/config.ts";
import { type RunningStage, type SupervisedStage, superviseStage } from "../service/run.ts";
import { startService } from "../service/service.ts";
import { StageBoard } from "../service/stage_board.ts";
import { createLogger } from "../runtime/log.ts";
import { assertDataDirAllowed } from "../runtime/data_dir.ts";
import { parseFlags } from "./args.ts";
import { explainPermissionRefusal } from "./permission_refusal.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { CONSUMER_NAMES, startConsumeStage } from "./consume.ts";
import { type CliContext, cliContext } from "./context.ts";
import { startEnrichStage } from "./enrich.ts";

/** The stages `upbus run` can run: the enricher and every consumer but `console` (a terminal's). */
export const STAGE_NAMES: readonly string[] = [
  "enrich",
  ...CONSUMER_NAMES.filter((name) => name !== "console"),
];

/** The stages when neither `--stages` nor `UPBUS_STAGES` names any. */
export const DEFAULT_STAGES: readonly string[] = ["enrich", "position"];

const USAGE = `Usage: upbus run [--stages enrich,position,notify]

Runs the webhook service (as \`upbus serve\`) and the stages you choose in this one process,
from one configuration: the environment and ./.env, as every command reads them. Stages:
  enrich     webhook events to full transactions (as \`upbus enrich\`)
  position   the dashboard (as \`upbus consume position\`)
  notify     the rules of NOTIFY_RULES (./notify.yaml) (as \`upbus consume notify\`)
  ledger, actual, mqtt   as \`upbus consume <name>\`
--stages, else UPBUS_STAGES (comma-separated), else ${DEFAULT_STAGES.join(",")}.

Each stage reads the settings its own command reads (consume --help, enrich --help). A stage
that fails is started again after 1 s, then 2, 4 ... up to 60 s, from its committed position;
the others run on. Every stage must start once: if one cannot (a wrong setting), upbus run
stops and says why. GET /readyz has a check per stage (stage:<name>); GET /metrics carries
upbus_stage_up, upbus_stage_restarts_total, upbus_stage_records_total and the position's
gauges. Embedded mode (no KAFKA_BROKERS) or Kafka, as the commands. Ctrl-C or SIGTERM stops
the service, then every stage, in order.

Test-only: UPBUS_TEST_FAULT=<stage>[:N] makes the Nth record (default the first) that consumer
stage handles in this process throw, as a stage that fails does.`;

/**
 * The stages asked for: `--stages`, else `UPBUS_STAGES`, else {@linkcode DEFAULT_STAGES}.
 *
 * @param flag The `--stages` value, if given.
 * @param env `UPBUS_STAGES`, if set.
 * @returns The stage names, each once, in the order of {@linkcode STAGE_NAMES}.
 * @throws {UsageError} If a name is not a stage.
 *
 * @example
 * ```ts
 * import { chooseStages } from "./run.ts";
 * if (chooseStages(undefined, "notify, enrich").join() !== "enrich,notify") throw new Error("unexpected");
 * ```
 */
export function chooseStages(flag: string | undefined, env: string | undefined): string[] {
  const text = flag ?? (env?.trim() ? env : undefined);
  if (text === undefined) return [...DEFAULT_STAGES];
  const asked = text.split(",").map((name) => name.trim()).filter(Boolean);
  const setting = flag === undefined ? "UPBUS_STAGES" : "--stages";
  for (const name of asked) {
    if (!STAGE_NAMES.includes(name)) {
      throw new UsageError(
        `${setting}: unknown stage "${name}", expected some of ${STAGE_NAMES.join(", ")}`,
      );
    }
  }
  if (asked.length === 0) throw new UsageError(`${setting}: no stage named`);
  return STAGE_NAMES.filter((name) => asked.includes(name));
}

/**
 * The test-only fault `UPBUS_TEST_FAULT=<stage>[:N]`: a hook per stage that throws a
 * {@linkcode ConsumerFailure} at the Nth record that stage handles in this process, once.
 */
function testFaults(
  value: string | undefined,
  stages: readonly string[],
): (stage: string) => ((message: ConsumerMessage) => void) | undefined {
  const text = value?.trim();
  if (!text) return () => undefined;
  const match = text.match(/^([a-z]+)(?::(\d+))?$/);
  if (!match || !stages.includes(match[1]) || match[1] === "enrich") {
    throw new UsageError(
      `UPBUS_TEST_FAULT: expected <stage>[:N] naming a consumer stage of this run, got "${text}"`,
    );
  }
  const [, faulty, nth = "1"] = match;
  let seen = 0;
  let fired = false;
  return (stage) =>
    stage !== faulty ? undefined : (message) => {
      if (fired || ++seen < Number(nth)) return;
      fired = true;
      throw new ConsumerFailure(
        `test fault (UPBUS_TEST_FAULT=${text}) at ${message.topic} offset ${message.offset}`,
      );
    };
}

/**
 * Creates the `run` command.
 *
 * @param overrides Parts of the outside world to replace (tests pass `env` and `stopped`).
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createRunCommand } from "./run.ts";
 * if (createRunCommand().name !== "run") throw new Error("unexpected");
 * ```
 */
export function createRunCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "run",
    summary: "the service and the stages you choose (enrich, position, notify, ...) in one process",
    usage: USAGE,
    async run(args) {
      const { values, positionals } = parseFlags(args, { stages: { type: "string" } });
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const context = cliContext(overrides);
      const names = chooseStages(values.stages, context.env("UPBUS_STAGES"));
      const faultFor = testFaults(context.env("UPBUS_TEST_FAULT"), names);
      // Listening from the start, so a Ctrl-C while it starts still gets the orderly stop.
      const signalled = context.stopped();
      const config = loadConfig(context.env);
      assertDataDirAllowed(config.dataDir);
      const logger = createLogger({ level: config.logLevel, format: config.logFormat }).child({
        component: "run",
      });
      const board = new StageBoard(names);
      const service = await startService(config, { logger, checks: () => board.checks() });
      service.metrics.text(() => board.metrics());

      const stopping = Promise.withResolvers<void>();
      const supervised: SupervisedStage[] = [];
      const firstStarts: Array<Promise<void>> = [];
      const firstFailure = Promise.withResolvers<{ name: string; error: unknown }>();
      for (const name of names) {
        const first = Promise.withResolvers<void>();
        let startedOnce = false;
        firstStarts.push(first.promise);
        const beforeHandle = faultFor(name);
        const start = (): Promise<RunningStage> =>
          name === "enrich"
            ? startEnrichStage(context)
            : startConsumeStage(name, context, beforeHandle ? { beforeHandle } : {});
        const stage = superviseStage({
          name,
          stopped: stopping.promise,
          logger,
          async start() {
            let running: RunningStage;
            try {
              running = await start();
            } catch (error) {
              if (!startedOnce) {
                // Every stage must start once: the whole run stops, and says why.
                firstFailure.resolve({ name, error });
                stopping.resolve();
              }
              throw error;
            }
            startedOnce = true;
            first.resolve();
            board.started(name, running);
            try {
              const failure = await Promise.race([
                stopping.promise.then(() => undefined),
                running.failed,
              ]);
              if (failure !== undefined) throw failure;
              return 0;
            } finally {
              board.ended(name);
              await running.stop();
            }
          },
        });
        board.supervise(name, stage);
        supervised.push(stage);
      }

      const outcome = await Promise.race([
        Promise.all(firstStarts).then(() => undefined),
        firstFailure.promise,
        signalled.then(() => undefined),
      ]);
      if (outcome === undefined) {
        logger.info("every stage running", {
          stages: names,
          mode: config.kafkaBrokers.length === 0 ? "embedded" : "kafka",
          webhook: `http://${service.address.hostname}:${service.address.port}/webhook`,
        });
        const signal = await signalled;
        logger.info("shutting down", { signal });
      }
      // The service first, so nothing new arrives; then every stage, after the record in hand.
      await service.shutdown();
      stopping.resolve();
      await Promise.all(supervised.map((stage) => stage.done));
      if (outcome !== undefined) {
        const { name, error } = outcome;
        const message = explainPermissionRefusal(error) ??
          ((error as Error)?.message ?? String(error));
        throw new Error(`Cannot start the ${name} stage: ${message}`, { cause: error });
      }
      return 0;
    },
  };
}

/** The `run` command. */
export const runCommand: Command = createRunCommand();

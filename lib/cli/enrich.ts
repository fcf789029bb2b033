/**
 * @module enrich command
 * `upbus enrich`: runs the enricher until SIGINT or SIGTERM: webhook events in, full
 * transactions out on `up.transactions` (in Kafka, or in the local log in embedded mode).
 */
import { type Enricher, startEnricher } from "../enrich/enricher.ts";
import { createKafka } from "../bus/kafka/client.ts";
import { preflightKafka } from "../bus/kafka/connection_check.ts";
import { createLogger } from "../runtime/log.ts";
import { loadPipelineConfig } from "../service/pipeline_config.ts";
import { type LocalLog, openLocalLog } from "../bus/local/local_log.ts";
import { upClientFromEnv } from "../up/client.ts";
import type { RunningStage } from "../service/run.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";
import { assertDataDirAllowed } from "../runtime/data_dir.ts";

const USAGE = `Usage: upbus enrich

Reads the webhook events from KAFKA_TOPIC (up.webhook-events) in the consumer group
upbus-enricher, fetches each created or settled transaction from the Up API, and publishes it
to TRANSACTIONS_TOPIC (up.transactions, compacted, key = transaction id); a deleted transaction
becomes a tombstone. Offsets are committed after the publish; on 429 or 5xx it pauses and
retries. Needs UP_API_TOKEN, and UP_API_BASE for the simulator.

Without KAFKA_BROKERS (embedded mode) it reads the events the service stored in
DATA_DIR/events.db and appends to the local log DATA_DIR/pipeline.db, which consume reads.`;

/**
 * Starts the enricher from the environment, in the mode it names: what `upbus enrich` runs until
 * a signal, and the `enrich` stage of `upbus run`.
 *
 * @param context The environment and HTTP client (`env`, `fetch`).
 * @returns The running stage; stop it on shutdown.
 * @throws {Error} If the configuration, Up's token, Kafka or the local files are wrong.
 */
export async function startEnrichStage(context: CliContext): Promise<RunningStage> {
  const config = loadPipelineConfig(context.env);
  assertDataDirAllowed(config.dataDir);
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const up = upClientFromEnv({
    env: context.env,
    fetch: context.fetch,
    // Long rate-limit waits happen with the partition paused, not inside a request.
    maxRateLimitWaitMs: 10_000,
    // A long-running command waits for Up to come back.
    retryUnreachable: true,
    onRetry: (notice) =>
      logger.warn("Up API retry", { action: notice.action, delayMs: notice.delayMs }),
  });
  let log: LocalLog | undefined;
  let reached = true;
  let enricher: Enricher;
  if (config.kafkaBrokers.length === 0) {
    const dataDir = config.dataDir.replace(/\/+$/, "");
    // Fail fast on a wrong token, with register-webhook's message, rather than retry forever.
    await up.ping();
    log = await openLocalLog(dataDir);
    logger.info(
      "embedded mode: KAFKA_BROKERS is not set, so the enricher reads the local store and appends to the local log",
      { events: `${dataDir}/events.db`, log: log.path },
    );
    try {
      enricher = await startEnricher({
        log,
        eventsPath: `${dataDir}/events.db`,
        up,
        targetTopic: config.transactionsTopic,
        groupId: `${config.groupPrefix}-enricher`,
        logger,
      });
    } catch (error) {
      log.close();
      throw error;
    }
  } else {
    // A wrong password or certificate ends the command here, in one line.
    reached = await preflightKafka({
      brokers: config.kafkaBrokers,
      clientId: config.kafkaClientId,
      connection: config.kafkaConnection,
      logger,
    });
    // The token, once Kafka answered (a command that cannot reach its broker never asks
    // Up), and before the enricher says it runs.
    if (reached) await up.ping();
    const kafka = createKafka({
      brokers: config.kafkaBrokers,
      clientId: config.kafkaClientId,
      connection: config.kafkaConnection,
      logger,
    });
    enricher = await startEnricher({
      kafka,
      up,
      sourceTopic: config.kafkaTopic,
      targetTopic: config.transactionsTopic,
      partitions: config.kafkaTopicPartitions,
      replicationFactor: config.kafkaReplicationFactor,
      dataDir: config.dataDir,
      groupId: `${config.groupPrefix}-enricher`,
      logger,
    });
  }
  if (config.kafkaBrokers.length > 0 && !reached) {
    // Kafka answered only once the enricher connected: the token now.
    try {
      await up.ping();
    } catch (error) {
      await enricher.stop();
      throw error;
    }
  }
  return {
    failed: enricher.failed,
    stats: () => ({ ...enricher.stats() }),
    async stop() {
      logger.info("shutting down", { ...enricher.stats() });
      try {
        await enricher.stop();
      } finally {
        log?.close();
      }
    },
  };
}

/**
 * Creates the `enrich` command.
 *
 * @param overrides Parts of the outside world to replace (tests pass `env` and `stopped`).
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createEnrichCommand } from "./enrich.ts";
 * if (createEnrichCommand().name !== "enrich") throw new Error("unexpected");
 * ```
 */
export function createEnrichCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "enrich",
    summary: "turn webhook events into full transactions on up.transactions",
    usage: USAGE,
    async run(args) {
      if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
      const context = cliContext(overrides);
      // Listening from the start, so a Ctrl-C while it starts still gets the orderly stop.
      const stopped = context.stopped();
      const stage = await startEnrichStage(context);
      await stopped;
      await stage.stop();
      return 0;
    },
  };
}

/** The `enrich` command. */
export const enrichCommand: Command = createEnrichCommand();

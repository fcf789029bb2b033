/**
 * @module enrich command
 * `upbus enrich`: runs the enricher until SIGINT or SIGTERM: webhook events in, full
 * transactions out on `up.transactions`.
 */
import { startEnricher } from "../enricher.ts";
import { createKafka } from "../kafka/client.ts";
import { createLogger } from "../log.ts";
import { loadPipelineConfig } from "../pipeline_config.ts";
import { upClientFromEnv } from "../up/client.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";

const USAGE = `Usage: upbus enrich

Reads the webhook events from KAFKA_TOPIC (up.webhook-events) in the consumer group
upbus-enricher, fetches each created or settled transaction from the Up API, and publishes it
to TRANSACTIONS_TOPIC (up.transactions, compacted, key = transaction id); a deleted transaction
becomes a tombstone. Offsets are committed after the publish; on 429 or 5xx it pauses and
retries. Needs KAFKA_BROKERS (no embedded mode), UP_API_TOKEN, and UP_API_BASE for the
simulator.`;

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
      const config = loadPipelineConfig(context.env);
      const logger = createLogger({ level: config.logLevel });
      const up = upClientFromEnv({
        env: context.env,
        fetch: context.fetch,
        // Long rate-limit waits happen with the partition paused, not inside a request.
        maxRateLimitWaitMs: 10_000,
        onRetry: (notice) =>
          logger.warn("Up API retry", { action: notice.action, delayMs: notice.delayMs }),
      });
      const kafka = createKafka({
        brokers: config.kafkaBrokers,
        clientId: config.kafkaClientId,
        logger,
      });
      const enricher = await startEnricher({
        kafka,
        up,
        sourceTopic: config.kafkaTopic,
        targetTopic: config.transactionsTopic,
        partitions: config.kafkaTopicPartitions,
        replicationFactor: config.kafkaReplicationFactor,
        logger,
      });
      const signal = await context.stopped();
      logger.info("shutting down", { signal, ...enricher.stats() });
      await enricher.stop();
      return 0;
    },
  };
}

/** The `enrich` command. */
export const enrichCommand: Command = createEnrichCommand();

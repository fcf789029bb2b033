/**
 * @module Embedded enricher
 * The enricher without Kafka (embedded mode): it reads the webhook events the service committed
 * to `DATA_DIR/events.db` (read-only, in `seq` order), enriches each as the Kafka enricher does
 * ({@linkcode createEnrichment}), and appends the full transaction, or a tombstone, to the
 * `up.transactions` topic of the local log (`DATA_DIR/pipeline.db`). Its cursor is committed in
 * the local log (group `upbus-enricher`, source `events.db`) in the same transaction as the
 * append (events with nothing to publish, after they are handled), so a restart resumes after
 * the last event enriched and publishes nothing twice; on 429 or 5xx the same event is retried
 * after a backoff, never skipped.
 */
import type { ConsumerMessage } from "./consumers/consumer.ts";
import { startEmbeddedConsumer } from "./consumers/embedded_runner.ts";
import type { Enricher } from "./enricher.ts";
import { createEnrichment } from "./enrichment.ts";
import { DEFAULT_TRANSACTIONS_TOPIC } from "./kafka/transaction_record.ts";
import type { Logger } from "./log.ts";
import { eventStoreSource } from "./store/event_source.ts";
import type { LocalLog } from "./store/local_log.ts";
import type { UpClient } from "./up/client.ts";

/** Options for {@linkcode startEmbeddedEnricher}. */
export interface EmbeddedEnricherOptions {
  /** The local log it appends to and commits its cursor in. */
  log: LocalLog;
  /** The event store's file, `DATA_DIR/events.db`. */
  eventsPath: string;
  /** The Up API client that fetches transactions. */
  up: UpClient;
  /** The enriched topic. Default `up.transactions`. */
  targetTopic?: string;
  /** The group of its cursor. Default `upbus-enricher`. */
  groupId?: string;
  /** Milliseconds between polls of the event store once caught up. Default 500. */
  pollMs?: number;
  /** First retry delay after a failed fetch or append, in ms; doubles. Default 500. */
  initialBackoffMs?: number;
  /** Longest retry delay, in ms. Default 30 000. */
  maxBackoffMs?: number;
  /** The clock, epoch ms, for a rate limit's reset time. Default `Date.now`. */
  now?: () => number;
  /** Where it logs. */
  logger: Logger;
}

/**
 * Starts the enricher in embedded mode.
 *
 * @param options The local log, the event store's file, the Up client, topic and polling.
 * @returns The running enricher; stop it on shutdown (the caller closes the log).
 * @throws {Error} If the local log cannot be read.
 *
 * @example
 * ```ts ignore
 * import { startEmbeddedEnricher } from "./embedded_enricher.ts";
 * import { createLogger } from "./log.ts";
 * import { openLocalLog } from "./store/local_log.ts";
 * import { upClientFromEnv } from "./up/client.ts";
 * const log = await openLocalLog("./data");
 * const enricher = await startEmbeddedEnricher({
 *   log,
 *   eventsPath: "./data/events.db",
 *   up: upClientFromEnv(),
 *   logger: createLogger(),
 * });
 * await enricher.stop();
 * log.close();
 * ```
 */
export async function startEmbeddedEnricher(options: EmbeddedEnricherOptions): Promise<Enricher> {
  const { log, logger } = options;
  const targetTopic = options.targetTopic ?? DEFAULT_TRANSACTIONS_TOPIC;
  const groupId = options.groupId ?? "upbus-enricher";
  const source = eventStoreSource(options.eventsPath);
  // The cursor after the event in hand, committed with its record in one transaction: even a
  // crash between the append and the runner's commit does not publish it twice.
  let after = 0;
  const enrichment = createEnrichment({
    up: options.up,
    publish: (record) =>
      void log.append(targetTopic, [record], {
        commit: { group: groupId, source: source.name, offset: after },
      }),
    logger,
  });
  const handle = (message: ConsumerMessage) => {
    after = Number(message.offset) + 1;
    return enrichment.handle(message);
  };
  const running = await startEmbeddedConsumer(
    { name: "enricher", topic: source.name, handle, close: source.close },
    {
      log,
      source,
      groupId,
      pollMs: options.pollMs,
      initialBackoffMs: options.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
      now: options.now,
      logger,
    },
  ).catch((error) => {
    source.close();
    throw error;
  });
  logger.info("enricher running", {
    from: options.eventsPath,
    to: `${log.path} (${targetTopic})`,
    group: running.groupId,
  });
  return {
    stats: () => ({ ...enrichment.stats(), failures: running.failures }),
    stop: () => running.stop(),
  };
}

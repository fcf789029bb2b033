/**
 * @module Embedded enricher
 * The enricher's wiring without Kafka (embedded mode): {@linkcode runEnricher} reading the webhook
 * events the service committed to `DATA_DIR/events.db` (read-only, in `seq` order) and appending
 * to the `up.transactions` topic of the local log (`DATA_DIR/pipeline.db`), its cursor (group
 * `upbus-enricher`, source `events.db`) committed with each append. A restart resumes after the
 * last event enriched and publishes nothing twice; on 429 or 5xx the same event is retried after a
 * backoff, never skipped.
 */
import { type Enricher, runEnricher } from "./enricher.ts";
import { DEFAULT_TRANSACTIONS_TOPIC } from "../bus/transaction_record.ts";
import type { Logger } from "../runtime/log.ts";
import { eventStoreSource } from "../bus/local/event_source.ts";
import type { LocalLog } from "../bus/local/local_log.ts";
import { localLogTransactionSink } from "../bus/local/local_log_sink.ts";
import { localLogRecordSource } from "../bus/local/local_log_source.ts";
import type { UpClient } from "../up/client.ts";

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
 * import { createLogger } from "../runtime/log.ts";
 * import { openLocalLog } from "../bus/local/local_log.ts";
 * import { upClientFromEnv } from "../up/client.ts";
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
export function startEmbeddedEnricher(options: EmbeddedEnricherOptions): Promise<Enricher> {
  const { log } = options;
  const groupId = options.groupId ?? "upbus-enricher";
  const reader = eventStoreSource(options.eventsPath);
  return runEnricher({
    source: localLogRecordSource(log, { reader, pollMs: options.pollMs }),
    sourceTopic: reader.name,
    sink: localLogTransactionSink(log, {
      topic: options.targetTopic ?? DEFAULT_TRANSACTIONS_TOPIC,
      groupId,
      sourceName: reader.name,
    }),
    up: options.up,
    groupId,
    initialBackoffMs: options.initialBackoffMs,
    maxBackoffMs: options.maxBackoffMs,
    now: options.now,
    logger: options.logger,
  });
}

/**
 * @module Enricher
 * Turns webhook events into full transactions, in either mode: it reads webhook events from a
 * {@linkcode RecordSource} (a Kafka consumer group on `up.webhook-events`, or the event store in
 * embedded mode), fetches `GET /transactions/{id}` for each CREATED and SETTLED event, and
 * publishes the resource through a {@linkcode TransactionSink} (the compacted `up.transactions`
 * topic, in Kafka or the local log) keyed by transaction id; a DELETED event becomes a
 * tombstone. A position is committed only after the publish resolved; when Up answers 429 or 5xx
 * the same event is retried after a backoff, never skipped. When Up deletes a held transaction and
 * creates a new one instead of settling it, the old key gets its tombstone and the new key its own
 * record: the topic always holds each transaction's latest state.
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Kafka } from "kafkajs";
import type { ConsumerMessage } from "../bus/consumer.ts";
import { startConsumer } from "../bus/runner.ts";
import type { RecordSource } from "../bus/source.ts";
import type { TransactionSink } from "../bus/sink.ts";
import { createEnrichment, type EnricherStats } from "./enrichment.ts";
import { kafkaRecordSource } from "../bus/kafka/record_source.ts";
import { kafkaTransactionSink } from "../bus/kafka/transaction_sink.ts";
import { eventStoreSource } from "../bus/local/event_source.ts";
import type { LocalLog } from "../bus/local/local_log.ts";
import { localLogTransactionSink } from "../bus/local/local_log_sink.ts";
import { localLogRecordSource } from "../bus/local/local_log_source.ts";
import { DEFAULT_TRANSACTIONS_TOPIC } from "../bus/transaction_record.ts";
import type { Logger } from "../runtime/log.ts";
import type { UpClient } from "../up/client.ts";

export type { EnricherStats };

/** Options for {@linkcode runEnricher}. */
export interface RunEnricherOptions {
  /** Where webhook events are read. */
  source: RecordSource;
  /** What the source reads: the webhook events' topic. Default `up.webhook-events`. */
  sourceTopic?: string;
  /** Where enriched transactions go; closed when the enricher stops. */
  sink: TransactionSink;
  /** The Up API client that fetches transactions. */
  up: UpClient;
  /** Consumer group. Default `upbus-enricher`. */
  groupId?: string;
  /** First retry delay after a failed fetch or publish, in ms; doubles. Default 500. */
  initialBackoffMs?: number;
  /** Longest retry delay, in ms. Default 30 000. */
  maxBackoffMs?: number;
  /** The clock, epoch ms, for a rate limit's reset time. Default `Date.now`. */
  now?: () => number;
  /** Where it logs. */
  logger: Logger;
}

/** Options for {@linkcode startEnricher}, the Kafka wiring. */
export interface EnricherOptions {
  /** The process's Kafka client. */
  kafka: Kafka;
  /** The Up API client that fetches transactions. */
  up: UpClient;
  /** Topic of the webhook events. Default `up.webhook-events`. */
  sourceTopic?: string;
  /** The enriched topic. Default `up.transactions`. */
  targetTopic?: string;
  /** Consumer group. Default `upbus-enricher`. */
  groupId?: string;
  /** Partitions of topics it creates. Default 3. */
  partitions?: number;
  /** Replication factor of topics it creates. Default -1 (the broker's). */
  replicationFactor?: number;
  /** `DATA_DIR`: where `transaction_states.db` keeps each key's last published state. */
  dataDir: string;
  /** First retry delay after a failed fetch or publish, in ms; doubles. Default 500. */
  initialBackoffMs?: number;
  /** Longest retry delay, in ms. Default 30 000. */
  maxBackoffMs?: number;
  /** Where it logs. */
  logger: Logger;
}

/** A running enricher. */
export interface Enricher {
  /** Counts since start. */
  stats(): EnricherStats;
  /** Resolves with the error that ended its reading (see `RunningConsumer.failed`). */
  failed: Promise<Error>;
  /** Stops consuming, then closes the sink. */
  stop(): Promise<void>;
}

/**
 * Runs the enricher over any source and sink. Resolves once it reads.
 *
 * @param options The source, the sink, the Up client, group and backoff.
 * @returns The running enricher; stop it on shutdown.
 * @throws {Error} If the source cannot be read (the sink is closed then).
 *
 * @example
 * ```ts ignore
 * import { runEnricher } from "./enricher.ts";
 * const enricher = await runEnricher({ source, sink, up, logger });
 * await enricher.stop();
 * ```
 */
export async function runEnricher(options: RunEnricherOptions): Promise<Enricher> {
  const { source, sink, logger } = options;
  const sourceTopic = options.sourceTopic ?? "up.webhook-events";
  let inHand: ConsumerMessage | undefined;
  const enrichment = createEnrichment({
    up: options.up,
    publish: (record) => sink.publish(record, inHand!),
    logger,
  });
  const handle = (message: ConsumerMessage) => {
    inHand = message;
    return enrichment.handle(message);
  };
  const running = await startConsumer(
    { name: "enricher", topic: sourceTopic, handle, close: () => sink.close() },
    {
      source,
      groupId: options.groupId ?? "upbus-enricher",
      logger,
      initialBackoffMs: options.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
      now: options.now,
    },
  ).catch(async (error) => {
    await sink.close();
    throw error;
  });
  logger.info("enricher running", {
    from: `${source.kind}: ${sourceTopic}`,
    to: sink.name,
    group: running.groupId,
    starts: running.start,
  });
  return {
    stats: () => ({ ...enrichment.stats(), failures: running.failures }),
    failed: running.failed,
    stop: () => running.stop(),
  };
}

/** Options for {@linkcode startEnricher} in embedded mode (no Kafka). */
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

/** The two ends of the enricher in one mode: where events are read, where transactions go. */
interface EnricherPorts {
  source: RecordSource;
  sourceTopic: string;
  sink: TransactionSink;
}

/** Kafka: a consumer group on the events topic; the compacted topic, created when missing. */
async function kafkaPorts(options: EnricherOptions): Promise<EnricherPorts> {
  const sourceTopic = options.sourceTopic ?? "up.webhook-events";
  const sink = await kafkaTransactionSink(options.kafka, {
    topic: options.targetTopic,
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
    others: [sourceTopic],
    dataDir: options.dataDir,
    logger: options.logger,
  });
  return { source: kafkaRecordSource(options.kafka), sourceTopic, sink };
}

/**
 * Embedded mode: the webhook events the service committed to `DATA_DIR/events.db` (read-only, in
 * `seq` order), appended to the local log's `up.transactions` with the cursor (source `events.db`)
 * committed in the same transaction as each append, so a restart publishes nothing twice.
 */
function localPorts(options: EmbeddedEnricherOptions): EnricherPorts {
  const reader = eventStoreSource(options.eventsPath);
  return {
    source: localLogRecordSource(options.log, { reader, pollMs: options.pollMs }),
    sourceTopic: reader.name,
    sink: localLogTransactionSink(options.log, {
      topic: options.targetTopic ?? DEFAULT_TRANSACTIONS_TOPIC,
      groupId: options.groupId ?? "upbus-enricher",
      sourceName: reader.name,
    }),
  };
}

/**
 * Starts the enricher in the mode its options name: with `kafka`, on Kafka (the enriched topic
 * created when missing, an idempotent producer, the consumer group); with `log`, in embedded mode
 * (the caller closes the log). The mode picks the two adapters; the enricher is the same.
 *
 * @param options Kafka or the local log, the Up client, topics and backoff.
 * @returns The running enricher; stop it on shutdown.
 * @throws {Error} If Kafka or the local log cannot be read.
 *
 * @example
 * ```ts ignore
 * import { createKafka } from "../bus/kafka/client.ts";
 * import { createLogger } from "../runtime/log.ts";
 * import { upClientFromEnv } from "../up/client.ts";
 * import { startEnricher } from "./enricher.ts";
 * const enricher = await startEnricher({
 *   kafka: createKafka({ brokers: ["127.0.0.1:9092"] }),
 *   up: upClientFromEnv(),
 *   dataDir: "./data",
 *   logger: createLogger(),
 * });
 * await enricher.stop();
 * ```
 */
export async function startEnricher(
  options: EnricherOptions | EmbeddedEnricherOptions,
): Promise<Enricher> {
  const ports = "kafka" in options ? await kafkaPorts(options) : localPorts(options);
  return runEnricher({
    ...ports,
    up: options.up,
    groupId: options.groupId,
    initialBackoffMs: options.initialBackoffMs,
    maxBackoffMs: options.maxBackoffMs,
    now: "now" in options ? options.now : undefined,
    logger: options.logger,
  });
}

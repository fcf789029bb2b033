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
import type { Kafka } from "kafkajs";
import type { ConsumerMessage } from "../consumers/consumer.ts";
import { startConsumer } from "../consumers/runner.ts";
import type { RecordSource } from "../bus/source.ts";
import { createEnrichment, type EnricherStats } from "./enrichment.ts";
import { kafkaRecordSource } from "../bus/kafka/record_source.ts";
import { kafkaTransactionSink } from "../bus/kafka/transaction_sink.ts";
import type { TransactionRecord } from "../bus/transaction_record.ts";
import type { Logger } from "../runtime/log.ts";
import type { UpClient } from "../up/client.ts";

export type { EnricherStats };

/** Where enriched transactions go: `up.transactions` in Kafka, or in the local log. */
export interface TransactionSink {
  /** Where it writes, for logs. */
  readonly name: string;
  /**
   * Publishes one record; resolves once it is durable. `after` is the webhook event it came
   * from, for a sink that commits the source's position with the record (the local log does).
   */
  publish(record: TransactionRecord, after: ConsumerMessage): Promise<void>;
  /** Releases the sink (disconnects a producer). */
  close(): Promise<void>;
}

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
  });
  return {
    stats: () => ({ ...enrichment.stats(), failures: running.failures }),
    stop: () => running.stop(),
  };
}

/**
 * Starts the enricher on Kafka: creates the enriched topic (compacted) when missing, connects an
 * idempotent producer and joins the consumer group.
 *
 * @param options Kafka, the Up client, topics and backoff.
 * @returns The running enricher; stop it on shutdown.
 * @throws {Error} If Kafka cannot be reached.
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
 *   logger: createLogger(),
 * });
 * await enricher.stop();
 * ```
 */
export async function startEnricher(options: EnricherOptions): Promise<Enricher> {
  const { kafka, logger } = options;
  const sourceTopic = options.sourceTopic ?? "up.webhook-events";
  const sink = await kafkaTransactionSink(kafka, {
    topic: options.targetTopic,
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
    others: [sourceTopic],
    logger,
  });
  return runEnricher({
    source: kafkaRecordSource(kafka),
    sourceTopic,
    sink,
    up: options.up,
    groupId: options.groupId,
    initialBackoffMs: options.initialBackoffMs,
    maxBackoffMs: options.maxBackoffMs,
    logger,
  });
}

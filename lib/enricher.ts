/**
 * @module Enricher
 * Turns webhook events into full transactions: reads `up.webhook-events` in a consumer group,
 * fetches `GET /transactions/{id}` for each CREATED and SETTLED event, and publishes the
 * resource to the compacted `up.transactions` topic keyed by transaction id; a DELETED event
 * becomes a tombstone. Offsets are committed only after the publish resolved; when Up answers
 * 429 or 5xx the partition is paused and the event retried, never skipped. When Up deletes a
 * held transaction and creates a new one instead of settling it, the old key gets its tombstone
 * and the new key its own record: the topic always holds each transaction's latest state.
 */
import type { Kafka } from "kafkajs";
import { type RunningConsumer, startConsumer } from "./consumers/runner.ts";
import { createEnrichment, type EnricherStats } from "./enrichment.ts";
import { ensureTransactionsTopic, type TransactionRecord } from "./kafka/transaction_record.ts";
import { UpbusProducer } from "./kafka/producer.ts";
import type { Logger } from "./log.ts";
import type { UpClient } from "./up/client.ts";

export type { EnricherStats };

/** Options for {@linkcode startEnricher}. */
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
  /** Stops consuming, then disconnects the producer. */
  stop(): Promise<void>;
}

/**
 * Starts the enricher: creates the enriched topic (compacted) when missing, connects an
 * idempotent producer and joins the consumer group.
 *
 * @param options Kafka, the Up client, topics and backoff.
 * @returns The running enricher; stop it on shutdown.
 * @throws {Error} If Kafka cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { createKafka } from "./kafka/client.ts";
 * import { createLogger } from "./log.ts";
 * import { upClientFromEnv } from "./up/client.ts";
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
  const { kafka, up, logger } = options;
  const sourceTopic = options.sourceTopic ?? "up.webhook-events";
  const targetTopic = options.targetTopic ?? "up.transactions";
  const created = await ensureTransactionsTopic(kafka, targetTopic, {
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
    others: [sourceTopic],
  });
  if (created.length > 0) logger.info("created Kafka topics", { topics: created });
  const producer = await UpbusProducer.connect(kafka);

  async function publish(record: TransactionRecord): Promise<void> {
    await producer.sendAll([{ topic: targetTopic, message: record }]);
  }

  const enrichment = createEnrichment({ up, publish, logger });
  const handle = enrichment.handle;

  let running: RunningConsumer;
  try {
    running = await startConsumer(
      { name: "enricher", topic: sourceTopic, handle },
      {
        kafka,
        groupId: options.groupId,
        logger,
        initialBackoffMs: options.initialBackoffMs,
        maxBackoffMs: options.maxBackoffMs,
      },
    );
  } catch (error) {
    await producer.disconnect();
    throw error;
  }
  logger.info("enricher running", { from: sourceTopic, to: targetTopic, group: running.groupId });
  return {
    stats: () => ({ ...enrichment.stats(), failures: running.failures }),
    async stop() {
      try {
        await running.stop();
      } finally {
        await producer.disconnect();
      }
    },
  };
}

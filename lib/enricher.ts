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
import { type Kafka, Partitioners, type Producer } from "kafkajs";
import type { ConsumerMessage } from "./consumers/consumer.ts";
import { type RunningConsumer, startConsumer } from "./consumers/runner.ts";
import {
  ensureTransactionsTopic,
  tombstoneRecord,
  type TransactionRecord,
  transactionRecord,
} from "./kafka/transaction_record.ts";
import type { Logger } from "./log.ts";
import type { UpClient } from "./up/client.ts";
import { UpNotFoundError } from "./up/errors.ts";

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

/** What the enricher did since start. */
export interface EnricherStats {
  /** Transactions fetched and published. */
  published: number;
  /** Tombstones published. */
  tombstones: number;
  /** Events with nothing to enrich (PING, unknown types). */
  ignored: number;
  /** Failed attempts, each retried. */
  failures: number;
}

/** A running enricher. */
export interface Enricher {
  /** Counts since start. */
  stats(): EnricherStats;
  /** Stops consuming, then disconnects the producer. */
  stop(): Promise<void>;
}

interface WebhookFacts {
  eventType: string | undefined;
  transactionId: string | undefined;
}

const CE_TYPES: Record<string, string> = {
  "au.com.up.webhook.transaction.created": "TRANSACTION_CREATED",
  "au.com.up.webhook.transaction.settled": "TRANSACTION_SETTLED",
  "au.com.up.webhook.transaction.deleted": "TRANSACTION_DELETED",
  "au.com.up.webhook.ping": "PING",
};

/** The event type and transaction id: from the CloudEvents headers, else from the body. */
function readFacts(message: ConsumerMessage): WebhookFacts {
  const fromHeader = CE_TYPES[message.headers.ce_type ?? ""];
  if (fromHeader !== undefined) {
    return { eventType: fromHeader, transactionId: message.headers.ce_subject };
  }
  try {
    const body = JSON.parse(new TextDecoder().decode(message.value ?? new Uint8Array()));
    return {
      eventType: body?.data?.attributes?.eventType,
      transactionId: body?.data?.relationships?.transaction?.data?.id,
    };
  } catch {
    return { eventType: undefined, transactionId: undefined };
  }
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
  const stats: EnricherStats = { published: 0, tombstones: 0, ignored: 0, failures: 0 };
  const created = await ensureTransactionsTopic(kafka, targetTopic, {
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
    others: [sourceTopic],
  });
  if (created.length > 0) logger.info("created Kafka topics", { topics: created });
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();

  async function publish(record: TransactionRecord): Promise<void> {
    await producer.send({ topic: targetTopic, acks: -1, messages: [record] });
  }

  async function handle(message: ConsumerMessage): Promise<void> {
    const { eventType, transactionId } = readFacts(message);
    const isTransactionEvent = eventType === "TRANSACTION_CREATED" ||
      eventType === "TRANSACTION_SETTLED" || eventType === "TRANSACTION_DELETED";
    if (!isTransactionEvent || transactionId === undefined) {
      stats.ignored++;
      return;
    }
    if (eventType === "TRANSACTION_DELETED") {
      await publish(tombstoneRecord(transactionId, "enricher"));
      stats.tombstones++;
      return;
    }
    let record: TransactionRecord;
    try {
      record = transactionRecord(await up.getTransaction(transactionId), "enricher");
    } catch (error) {
      if (!(error instanceof UpNotFoundError)) throw error;
      // Deleted before we asked: its latest state is "gone"; the DELETED event follows.
      logger.info("transaction no longer exists; publishing a tombstone", { transactionId });
      await publish(tombstoneRecord(transactionId, "enricher"));
      stats.tombstones++;
      return;
    }
    await publish(record);
    stats.published++;
    logger.debug("enriched transaction", { transactionId, eventType });
  }

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
    stats: () => ({ ...stats, failures: running.failures }),
    async stop() {
      try {
        await running.stop();
      } finally {
        await producer.disconnect();
      }
    },
  };
}

/**
 * @module Kafka transaction sink
 * The enricher's {@linkcode TransactionSink} on Kafka: creates the compacted enriched topic when
 * missing and publishes each record with upbus's producer (`./producer.ts`: idempotent, `acks: -1`,
 * a record counts only when its own partition acknowledged it), awaiting each send.
 * The producer lives here alone, so how it is built (and recovered after a failure) can change
 * without touching the enricher.
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Kafka } from "kafkajs";
import type { TransactionSink } from "../sink.ts";
import type { Logger } from "../../runtime/log.ts";
import { UpbusProducer } from "./producer.ts";
import { DEFAULT_TRANSACTIONS_TOPIC, ensureTransactionsTopic } from "../transaction_record.ts";

/** Options for {@linkcode kafkaTransactionSink}. */
export interface KafkaTransactionSinkOptions {
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /** Partitions of topics it creates. Default 3. */
  partitions?: number;
  /** Replication factor of topics it creates. Default -1 (the broker's). */
  replicationFactor?: number;
  /** Other topics to create when missing (the webhook events' topic). */
  others?: string[];
  /** Where it logs the topics it created. */
  logger: Logger;
}

/**
 * Creates the topic when missing and connects the producer.
 *
 * @param kafka The process's Kafka client.
 * @param options Topic, partitions, replication and logger.
 * @returns The sink; close it on shutdown (the enricher does).
 * @throws {Error} If Kafka cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { createKafka } from "./client.ts";
 * import { createLogger } from "../../runtime/log.ts";
 * import { kafkaTransactionSink } from "./transaction_sink.ts";
 * const sink = await kafkaTransactionSink(createKafka({ brokers: ["127.0.0.1:9092"] }), {
 *   logger: createLogger(),
 * });
 * await sink.close();
 * ```
 */
export async function kafkaTransactionSink(
  kafka: Kafka,
  options: KafkaTransactionSinkOptions,
): Promise<TransactionSink> {
  const topic = options.topic ?? DEFAULT_TRANSACTIONS_TOPIC;
  const created = await ensureTransactionsTopic(kafka, topic, {
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
    others: options.others,
  });
  if (created.length > 0) options.logger.info("created Kafka topics", { topics: created });
  const producer = await UpbusProducer.connect(kafka);
  return {
    name: `kafka: ${topic}`,
    async publish(record) {
      await producer.sendAll([{ topic, message: record }]);
    },
    close: () => producer.disconnect(),
  };
}

/**
 * @module Kafka transaction sink
 * The {@linkcode TransactionSink} on Kafka: creates the compacted enriched topic when missing and
 * publishes each record with upbus's producer (`./producer.ts`: idempotent, `acks: -1`, a record
 * counts only when its own partition acknowledged it), awaiting each send. A record older than
 * its key's last published state (`../transaction_state.ts`, as `DATA_DIR/transaction_states.db`
 * remembers it: `./transaction_states.ts`) is skipped, not sent.
 *
 * The producer lives here alone, so how it is built and recovered can change without touching
 * the enricher. After a failed send it is dropped, as the relay drops its own: a failed
 * idempotent producer can be left with sequence numbers the broker no longer accepts, and the
 * next publish (the enricher's runner retries with backoff) connects a fresh one, with a new
 * producer id. At worst a record is written twice.
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Kafka } from "kafkajs";
import type { PublishOutcome, TransactionSink } from "../sink.ts";
import type { Logger } from "../../runtime/log.ts";
import { UpbusProducer } from "./producer.ts";
import { openTransactionStates } from "./transaction_states.ts";
import {
  DEFAULT_TRANSACTIONS_TOPIC,
  ensureTransactionsTopic,
  type TransactionRecord,
} from "../transaction_record.ts";
import { type StateMark, stateOf, supersedes } from "../transaction_state.ts";

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
  /** `DATA_DIR`, where `transaction_states.db` is shared with the topic's other writers. */
  dataDir: string;
  /** Where it logs the topics it created and a replaced producer. */
  logger: Logger;
  /** Connects a producer, at start and after a failed send. Default `UpbusProducer.connect`. */
  connect?: (kafka: Kafka) => Promise<UpbusProducer>;
}

/**
 * Creates the topic when missing, opens the states file and connects the producer.
 *
 * @param kafka The process's Kafka client.
 * @param options Topic, partitions, replication, data directory and logger.
 * @returns The sink; close it on shutdown (the enricher does).
 * @throws {Error} If Kafka cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { createKafka } from "./client.ts";
 * import { createLogger } from "../../runtime/log.ts";
 * import { kafkaTransactionSink } from "./transaction_sink.ts";
 * const sink = await kafkaTransactionSink(createKafka({ brokers: ["127.0.0.1:9092"] }), {
 *   dataDir: "./data",
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
  const connect = options.connect ?? ((client: Kafka) => UpbusProducer.connect(client));
  const created = await ensureTransactionsTopic(kafka, topic, {
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
    others: options.others,
  });
  if (created.length > 0) options.logger.info("created Kafka topics", { topics: created });
  const states = openTransactionStates(options.dataDir, { topic });
  let producer: UpbusProducer | undefined;
  try {
    producer = await connect(kafka);
  } catch (error) {
    states.close();
    throw error;
  }

  async function publishAll(records: TransactionRecord[]): Promise<PublishOutcome[]> {
    // The key's last state: an earlier record of this call, else what the file remembers.
    const latest = new Map<string, StateMark>();
    const chosen: { record: TransactionRecord; mark: StateMark }[] = [];
    const outcomes = records.map((record): PublishOutcome => {
      const mark = stateOf(record);
      if (!supersedes(mark, latest.get(record.key) ?? states.last(record.key))) {
        return "skipped-stale";
      }
      latest.set(record.key, mark);
      chosen.push({ record, mark });
      return "published";
    });
    if (chosen.length === 0) return outcomes;
    const active = producer ??= await connect(kafka);
    try {
      await active.sendAll(chosen.map(({ record }) => ({ topic, message: record })));
    } catch (error) {
      // The next publish connects a fresh producer (see the module documentation).
      producer = undefined;
      await active.disconnect();
      options.logger.debug(
        "dropped the producer after a failed send; the next publish connects a new one",
        {
          error: (error as Error).message,
        },
      );
      throw error;
    }
    states.remember(chosen.map(({ record, mark }) => ({ key: record.key, mark })));
    return outcomes;
  }

  return {
    name: `kafka: ${topic}`,
    async publish(record) {
      const [outcome] = await publishAll([record]);
      return outcome;
    },
    publishAll,
    async close() {
      try {
        await producer?.disconnect();
      } finally {
        producer = undefined;
        states.close();
      }
    },
  };
}

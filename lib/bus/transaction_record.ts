/**
 * @module Transaction records
 * The `up.transactions` topic: compacted, keyed by transaction id, each value the full Up
 * `TransactionResource` as JSON, a tombstone (null value) once Up deleted the transaction.
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Kafka } from "kafkajs";
import type { TransactionResource } from "../up/types.ts";
import { ensureTopics } from "./kafka/topics.ts";

/** Default name of the enriched topic. */
export const DEFAULT_TRANSACTIONS_TOPIC = "up.transactions";

/** Topic configs of the enriched topic: compacted, so it holds each transaction's latest state. */
export const TRANSACTIONS_TOPIC_CONFIG: Readonly<Record<string, string>> = {
  "cleanup.policy": "compact",
};

/** A record for `producer.send`: a transaction, or a tombstone. */
export interface TransactionRecord {
  /** The transaction id: its states share a partition, and compaction keeps the latest. */
  key: string;
  /** The transaction resource as JSON, or `null` for a tombstone (the transaction was deleted). */
  value: string | null;
  /** Record headers, name to value. */
  headers: Record<string, string>;
}

/**
 * The record of a transaction's latest state.
 *
 * @param transaction The resource as `GET /transactions/{id}` returned it.
 * @param source What produced it: `enricher` or `backfill`.
 * @returns Key (the transaction id), value (the resource as JSON) and headers.
 *
 * @example
 * ```ts
 * import { transactionRecord } from "./transaction_record.ts";
 * const record = transactionRecord({ id: "tx-1" } as never, "backfill");
 * if (record.key !== "tx-1" || record.headers.upbus_source !== "backfill") throw new Error("unexpected");
 * ```
 */
export function transactionRecord(
  transaction: TransactionResource,
  source: string,
): TransactionRecord {
  return {
    key: transaction.id,
    value: JSON.stringify(transaction),
    headers: { "content-type": "application/json", upbus_source: source },
  };
}

/**
 * The tombstone of a deleted transaction: compaction eventually removes its key.
 *
 * @param id The transaction id.
 * @param source What produced it.
 * @returns A record with a null value.
 *
 * @example
 * ```ts
 * import { tombstoneRecord } from "./transaction_record.ts";
 * if (tombstoneRecord("tx-1", "enricher").value !== null) throw new Error("unexpected");
 * ```
 */
export function tombstoneRecord(id: string, source: string): TransactionRecord {
  return { key: id, value: null, headers: { upbus_source: source } };
}

/** A record of `up.transactions` as read back. */
export interface ReadTransaction {
  /** The transaction id (the key). */
  id: string;
  /** Its latest state, or `null` once deleted. */
  transaction: TransactionResource | null;
}

/**
 * Reads a record of `up.transactions`.
 *
 * @param key The record key.
 * @param value The record value, `null` for a tombstone.
 * @returns The id and the transaction, or `null` for a tombstone.
 * @throws {TypeError} If the key is missing or the value is not a transaction resource.
 *
 * @example
 * ```ts
 * import { readTransactionRecord } from "./transaction_record.ts";
 * if (readTransactionRecord("tx-1", null).transaction !== null) throw new Error("unexpected");
 * ```
 */
export function readTransactionRecord(
  key: string | null,
  value: Uint8Array | null,
): ReadTransaction {
  if (key === null) throw new TypeError("Cannot read transaction record: the key is missing");
  if (value === null) return { id: key, transaction: null };
  const parsed = JSON.parse(new TextDecoder().decode(value));
  if (parsed?.type !== "transactions" || typeof parsed.id !== "string") {
    throw new TypeError(
      `Cannot read transaction record: value of key "${key}" is not a transaction resource`,
    );
  }
  return { id: key, transaction: parsed as TransactionResource };
}

/** Options for {@linkcode ensureTransactionsTopic}. */
export interface EnsureTransactionsTopicOptions {
  /** Partitions of created topics. Default 3. */
  partitions?: number;
  /** Replication factor of created topics. Default -1 (the broker's). */
  replicationFactor?: number;
  /** Other topics to create with default configs, e.g. the webhook-events topic. Default none. */
  others?: string[];
  /** Attempts before giving up. Default 5. */
  attempts?: number;
}

/**
 * Creates the enriched topic (compacted) and any others when missing, with
 * {@linkcode ensureTopics}'s retries.
 *
 * @param kafka The Kafka client.
 * @param topic The enriched topic.
 * @param options Partitions, replication, other topics and attempts.
 * @returns The names of the topics created.
 * @throws {Error} The last failure, once every attempt failed.
 *
 * @example
 * ```ts ignore
 * import { ensureTransactionsTopic } from "./transaction_record.ts";
 * await ensureTransactionsTopic(kafka, "up.transactions", { others: ["up.webhook-events"] });
 * ```
 */
export async function ensureTransactionsTopic(
  kafka: Kafka,
  topic: string,
  options: EnsureTransactionsTopicOptions = {},
): Promise<string[]> {
  return await ensureTopics(kafka, [...(options.others ?? []), topic], {
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
    configs: { [topic]: { ...TRANSACTIONS_TOPIC_CONFIG } },
    attempts: options.attempts,
  });
}

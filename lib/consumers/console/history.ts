/**
 * @module Transaction history
 * The last transactions of `up.transactions` as it stands: each key's latest record, deleted
 * ones left out, newest last. Read through the record source (Kafka or the local log) from the
 * beginning to the end offsets of now, committing nothing, for `consume console --last N`.
 */
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { ConsumerMessage } from "../../bus/consumer.ts";
import { startConsumer } from "../../bus/runner.ts";
import type { RecordSource } from "../../bus/source.ts";

/**
 * The `count` newest transactions among `records`, by `createdAt`, oldest first.
 *
 * @param records Records of `up.transactions`, in offset order per partition.
 * @param count How many to keep.
 * @returns Each kept transaction's latest record.
 *
 * @example
 * ```ts
 * import { latestTransactions } from "./history.ts";
 * if (latestTransactions([], 5).length !== 0) throw new Error("unexpected");
 * ```
 */
export function latestTransactions(
  records: Iterable<ConsumerMessage>,
  count: number,
): ConsumerMessage[] {
  const latest = new Map<string, ConsumerMessage>();
  for (const record of records) {
    if (record.key !== null) latest.set(record.key, record);
  }
  const kept: Array<{ at: number; record: ConsumerMessage }> = [];
  for (const record of latest.values()) {
    const { transaction } = readTransactionRecord(record.key, record.value);
    if (transaction !== null) {
      kept.push({ at: Date.parse(transaction.attributes.createdAt), record });
    }
  }
  kept.sort((a, b) => a.at - b.at);
  return count === 0 ? [] : kept.slice(-count).map((entry) => entry.record);
}

/**
 * Every record of a topic up to its end offsets now, read from the beginning without
 * committing (a replay, as `notify --dry-run` reads).
 *
 * @param source Kafka or the local log.
 * @param topic The topic.
 * @returns Its records, in offset order per partition.
 * @throws {Error} If the source cannot be read.
 */
export async function readTopicNow(
  source: RecordSource,
  topic: string,
): Promise<ConsumerMessage[]> {
  const ends = await source.endOffsets(topic);
  const remaining = new Map(
    Object.entries(ends).filter(([, end]) => BigInt(end) > 0n)
      .map(([partition, end]) => [Number(partition), BigInt(end)]),
  );
  const records: ConsumerMessage[] = [];
  const { promise: read, resolve } = Promise.withResolvers<void>();
  if (remaining.size === 0) return records;
  const running = await startConsumer({
    name: "console-history",
    topic,
    replay: true,
    handle(message) {
      const end = remaining.get(message.partition);
      if (end === undefined || BigInt(message.offset) >= end) return;
      records.push(message);
      if (BigInt(message.offset) + 1n >= end) {
        remaining.delete(message.partition);
        if (remaining.size === 0) resolve();
      }
    },
  }, { source });
  try {
    await read;
  } finally {
    await running.stop();
  }
  return records;
}

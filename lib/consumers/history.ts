/**
 * @module Transaction history
 * The last transactions of `up.transactions` as it stands: each key's latest record, deleted
 * ones left out, newest last. Read from a Kafka topic (to its end offsets, in a throwaway
 * consumer group) or from the local log, for `consume console --last N`.
 */
import type { Kafka } from "kafkajs";
import { readTransactionRecord } from "../kafka/transaction_record.ts";
import type { LocalLog } from "../store/local_log.ts";
import type { ConsumerMessage } from "./consumer.ts";
import { toConsumerMessage } from "./runner.ts";

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
 * Every record of a topic of the local log.
 *
 * @param log The local log.
 * @param topic The topic.
 * @returns Its records in offset order.
 *
 * @example
 * ```ts
 * import { openLocalLog } from "../store/local_log.ts";
 * import { readLocalTopic } from "./history.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * log.append("t", [{ key: "k", value: "{}", headers: {} }]);
 * if (readLocalTopic(log, "t").length !== 1) throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function readLocalTopic(log: LocalLog, topic: string): ConsumerMessage[] {
  const records: ConsumerMessage[] = [];
  for (;;) {
    const page = log.read(topic, { from: records.length, limit: 1000 });
    if (page.length === 0) return records;
    records.push(...page);
  }
}

/**
 * Every record of a Kafka topic up to its end offsets now, read in a consumer group of its own
 * that is deleted afterwards.
 *
 * @param kafka The client.
 * @param topic The topic.
 * @param options How long to wait for the records; default 30 s.
 * @returns Its records.
 * @throws {Error} If the records do not arrive in time.
 */
export async function readKafkaTopic(
  kafka: Kafka,
  topic: string,
  options: { timeoutMs?: number } = {},
): Promise<ConsumerMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `upbus-history-${crypto.randomUUID()}`;
  const consumer = kafka.consumer({ groupId });
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const pending = new Map(
      ends.filter((end) => BigInt(end.high) > BigInt(end.low))
        .map((end) => [end.partition, BigInt(end.high)]),
    );
    if (pending.size === 0) return [];
    const records: ConsumerMessage[] = [];
    const { promise: done, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => reject(new Error(`Cannot read ${topic}: its records did not arrive in time`)),
      options.timeoutMs ?? 30_000,
    );
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const end = pending.get(partition);
        if (end !== undefined && BigInt(message.offset) < end) {
          records.push(toConsumerMessage(topic, partition, message));
          if (BigInt(message.offset) + 1n >= end) pending.delete(partition);
        }
        if (pending.size === 0) resolve();
        return Promise.resolve();
      },
    });
    try {
      await done;
    } finally {
      clearTimeout(timer);
    }
    return records;
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
}

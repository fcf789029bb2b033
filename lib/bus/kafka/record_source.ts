/**
 * @module Kafka record source
 * The {@linkcode RecordSource} over Kafka: a consumer group per subscription, offsets committed
 * one record at a time after the handler is done (none for a replay), one partition handled at a
 * time so a record being retried holds back the records after it. A new group's start (the
 * beginning or the end of each partition) is committed before it joins, so the group keeps it
 * from its first second: a consumer stopped before its first record resumes there, and a
 * partition that is assigned late does not start at whatever its end is then.
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Kafka, KafkaMessage } from "kafkajs";
import { Buffer } from "node:buffer";
import type { ConsumerMessage } from "../consumer.ts";
import type { RecordSource } from "../source.ts";

/** Options for {@linkcode kafkaRecordSource}. */
export interface KafkaRecordSourceOptions {
  /** Longest wait for new records in one fetch, in ms. Default 1000. */
  maxWaitTimeMs?: number;
}

function decodeHeaders(headers: KafkaMessage["headers"]): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    decoded[name] = Buffer.isBuffer(first) ? first.toString("utf8") : String(first);
  }
  return decoded;
}

/**
 * Converts a kafkajs message into a {@linkcode ConsumerMessage}.
 *
 * @param topic The topic.
 * @param partition The partition.
 * @param message The kafkajs message.
 * @returns The message handlers receive.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { toConsumerMessage } from "./record_source.ts";
 * const message = toConsumerMessage("t", 0, {
 *   key: Buffer.from("tx-1"), value: null, headers: {}, timestamp: "0", offset: "7", attributes: 0,
 * });
 * if (message.key !== "tx-1" || message.offset !== "7") throw new Error("unexpected");
 * ```
 */
export function toConsumerMessage(
  topic: string,
  partition: number,
  message: KafkaMessage,
): ConsumerMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString("utf8"),
    value: message.value === null ? null : new Uint8Array(message.value),
    headers: decodeHeaders(message.headers),
    timestamp: message.timestamp,
  };
}

/**
 * The source that reads Kafka topics in consumer groups.
 *
 * @param kafka The process's Kafka client.
 * @param options Fetch wait.
 * @returns The source.
 *
 * @example
 * ```ts
 * import { createKafka } from "./client.ts";
 * import { kafkaRecordSource } from "./record_source.ts";
 * const source = kafkaRecordSource(createKafka({ brokers: ["127.0.0.1:9092"] }));
 * if (source.kind !== "kafka") throw new Error("unexpected");
 * ```
 */
export function kafkaRecordSource(
  kafka: Kafka,
  options: KafkaRecordSourceOptions = {},
): RecordSource {
  return {
    kind: "kafka",
    async endOffsets(topic) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return Object.fromEntries(offsets.map((entry) => [entry.partition, entry.high]));
      } finally {
        await admin.disconnect();
      }
    },
    async unreadEndOffsets(topic, groupId) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const next = new Map(
          (committed?.partitions ?? []).map((entry) => [entry.partition, BigInt(entry.offset)]),
        );
        return Object.fromEntries(
          ends.filter(({ partition, high }) => {
            const from = next.get(partition) ?? -1n;
            return BigInt(high) > (from < 0n ? 0n : from);
          }).map(({ partition, high }) => [partition, high]),
        );
      } finally {
        await admin.disconnect();
      }
    },
    async subscribe(handle, { topic, groupId, replay, fromBeginning, startAtEnd, logger }) {
      const start = replay
        ? "from the beginning, committing nothing (replay)"
        : await commitStart(kafka, topic, groupId, fromBeginning, startAtEnd ?? false).catch(
          (error) => {
            // Another member joined first (its group then holds the positions) or the admin
            // request failed: the group's own reset policy applies, as before.
            const busy = /no running instances/i.test((error as Error).message);
            logger?.warn(
              busy
                ? `cannot commit the new group's start position: the group ${groupId} has running members that read no position of ${topic} (another upbus deployment on this cluster with the same group names? Give each its own CONSUMER_GROUP_PREFIX); the group starts as Kafka resets it`
                : "cannot commit the new group's start position; the group starts as Kafka resets it",
              {
                group: groupId,
                topic,
                error: (error as Error).message,
              },
            );
            return fromBeginning ? "from the beginning" : "from the end: new records only";
          },
        );
      const consumer = kafka.consumer({
        groupId,
        maxWaitTimeInMs: options.maxWaitTimeMs ?? 1000,
        retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
      });
      let stopping = false;
      let stopped: Promise<void> | undefined;
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: async function handleBatch(payload) {
            const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
            const control = {
              active: () => !stopping && isRunning() && !isStale(),
              heartbeat,
            };
            for (const message of batch.messages) {
              if (!control.active()) return;
              const done = await handle(
                toConsumerMessage(batch.topic, batch.partition, message),
                control,
              );
              // Not resolved: the next fetch (here or in the partition's next owner) starts again
              // at this record.
              if (!done) return;
              resolveOffset(message.offset);
              if (!replay) {
                const next = (BigInt(message.offset) + 1n).toString();
                await payload.commitOffsetsIfNecessary({
                  topics: [{
                    topic: batch.topic,
                    partitions: [{ partition: batch.partition, offset: next }],
                  }],
                });
              }
              await heartbeat();
            }
          },
        });
      } catch (error) {
        await consumer.disconnect();
        throw error;
      }
      return {
        start,
        stop() {
          stopping = true;
          stopped ??= consumer.disconnect();
          return stopped;
        },
      };
    },
  };
}

/**
 * Commits a group's start on the partitions where it has no position: the beginning (low
 * watermark) or the end (high), so that the group keeps it across restarts from the first second.
 *
 * @returns Where the group starts, in words.
 */
async function commitStart(
  kafka: Kafka,
  topic: string,
  groupId: string,
  fromBeginning: boolean,
  startAtEnd: boolean,
): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const positions = committed?.partitions ?? [];
    const missing = new Set(
      positions.filter((entry) => BigInt(entry.offset) < 0n).map((entry) => entry.partition),
    );
    const offsets = await admin.fetchTopicOffsets(topic);
    // fetchOffsets lists only partitions it knows; a partition it leaves out has no position.
    for (const { partition } of offsets) {
      if (!positions.some((entry) => entry.partition === partition)) missing.add(partition);
    }
    if (startAtEnd) {
      await admin.setOffsets({
        groupId,
        topic,
        partitions: offsets.map((entry) => ({ partition: entry.partition, offset: entry.high })),
      });
      return "from the end: new records only";
    }
    if (missing.size === 0) return "from its committed positions";
    const partitions = offsets.filter((entry) => missing.has(entry.partition)).map((entry) => ({
      partition: entry.partition,
      offset: fromBeginning ? entry.low : entry.high,
    }));
    await admin.setOffsets({ groupId, topic, partitions });
    const where = partitions.map((entry) => `${entry.partition}:${entry.offset}`).join(", ");
    const restart = missing.size < offsets.length ? " (the other partitions: committed)" : "";
    return fromBeginning
      ? `from the beginning (partition:offset ${where})${restart}`
      : `from the end: new records only (partition:offset ${where})${restart}`;
  } finally {
    await admin.disconnect();
  }
}

/**
 * @module Kafka record source
 * The {@linkcode RecordSource} over Kafka: a consumer group per subscription, offsets committed
 * one record at a time after the handler is done (none for a replay), one partition handled at a
 * time so a record being retried holds back the records after it.
 */
import { Buffer } from "node:buffer";
import type { Kafka, KafkaMessage } from "kafkajs";
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
    async subscribe(handle, { topic, groupId, replay, fromBeginning }) {
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
        stop() {
          stopping = true;
          stopped ??= consumer.disconnect();
          return stopped;
        },
      };
    },
  };
}

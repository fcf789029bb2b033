/**
 * @module Consumer runner
 * Runs a {@linkcode Consumer} in a Kafka consumer group, at least once: a record's offset is
 * committed only after its handler resolved; a handler that throws pauses its partition and the
 * same record is handled again after a backoff, so nothing is skipped.
 */
import { Buffer } from "node:buffer";
import type { Kafka, KafkaMessage } from "kafkajs";
import type { Logger } from "../log.ts";
import type { Consumer, ConsumerMessage } from "./consumer.ts";

/** Options for {@linkcode startConsumer}. */
export interface StartConsumerOptions {
  /** The process's Kafka client. */
  kafka: Kafka;
  /** The consumer group. Default `upbus-<name>`, or a fresh one per start for `replay`. */
  groupId?: string;
  /** Where failures are told. Default nowhere. */
  logger?: Logger;
  /** First delay before handling a failed record again, in ms; doubles. Default 500. */
  initialBackoffMs?: number;
  /** Longest such delay, in ms. Default 30 000. */
  maxBackoffMs?: number;
  /** Longest wait for new records in one fetch, in ms. Default 1000. */
  maxWaitTimeMs?: number;
  /** The clock, epoch ms, for errors that say when to retry (`retryAt`). Default `Date.now`. */
  now?: () => number;
}

/** A running consumer. */
export interface RunningConsumer {
  /** The consumer group it runs in. */
  groupId: string;
  /** Records handled since start. */
  readonly handled: number;
  /** Failed handler calls since start (each is retried). */
  readonly failures: number;
  /** Stops: finishes the record in hand, disconnects, then calls the consumer's `close()`. */
  stop(): Promise<void>;
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
 * How long an error that carries `retryAt` (a rate limit's reset) asks to wait.
 *
 * @param error What the handler threw.
 * @param now The clock, epoch ms.
 * @returns Milliseconds until `retryAt`, or 0 when the error carries none.
 *
 * @example
 * ```ts
 * import { retryAtDelay } from "./runner.ts";
 * if (retryAtDelay({ retryAt: new Date(1500) }, () => 1000) !== 500) throw new Error("unexpected");
 * ```
 */
export function retryAtDelay(error: unknown, now: () => number): number {
  const retryAt = (error as { retryAt?: unknown })?.retryAt;
  return retryAt instanceof Date ? Math.max(0, retryAt.getTime() - now()) : 0;
}

/**
 * Converts a kafkajs message into a {@linkcode ConsumerMessage}.
 *
 * @param topic The topic.
 * @param partition The partition.
 * @param message The kafkajs message.
 * @returns The message handlers receive.
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
 * Starts a consumer in a consumer group. Resolves once it has joined and runs.
 *
 * @param consumer The consumer: name, topic, handler.
 * @param options The Kafka client, group and backoff.
 * @returns The running consumer; stop it on shutdown (Deno's leak checks notice otherwise).
 * @throws {Error} If Kafka cannot be reached or the topic cannot be subscribed to.
 *
 * @example
 * ```ts ignore
 * import { createKafka } from "../kafka/client.ts";
 * import { startConsumer } from "./runner.ts";
 * const running = await startConsumer(
 *   { name: "count", topic: "up.transactions", handle: (message) => console.log(message.key) },
 *   { kafka: createKafka({ brokers: ["127.0.0.1:9092"] }) },
 * );
 * await running.stop();
 * ```
 */
export async function startConsumer(
  consumer: Consumer,
  options: StartConsumerOptions,
): Promise<RunningConsumer> {
  const replay = consumer.replay ?? false;
  const groupId = options.groupId ??
    (replay ? `upbus-${consumer.name}-${crypto.randomUUID()}` : `upbus-${consumer.name}`);
  const initialBackoff = options.initialBackoffMs ?? 500;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const logger = options.logger;
  const now = options.now ?? Date.now;
  const kafkaConsumer = options.kafka.consumer({
    groupId,
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 1000,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const backoffs = new Map<number, number>();
  let handled = 0;
  let failures = 0;
  let stopping = false;
  let stopped: Promise<void> | undefined;

  await kafkaConsumer.connect();
  try {
    await kafkaConsumer.subscribe({
      topic: consumer.topic,
      fromBeginning: replay || (consumer.fromBeginning ?? true),
    });
    await kafkaConsumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async function handleBatch(payload) {
        const { batch, resolveOffset, heartbeat, isRunning, isStale, pause } = payload;
        for (const message of batch.messages) {
          if (!isRunning() || isStale() || stopping) return;
          try {
            await consumer.handle(toConsumerMessage(batch.topic, batch.partition, message));
          } catch (error) {
            failures++;
            const backoff = backoffs.get(batch.partition) ?? initialBackoff;
            backoffs.set(batch.partition, Math.min(backoff * 2, maxBackoff));
            const delay = Math.max(backoff, retryAtDelay(error, now));
            logger?.warn("cannot handle record; pausing its partition and retrying it", {
              consumer: consumer.name,
              topic: batch.topic,
              partition: batch.partition,
              offset: message.offset,
              retryInMs: delay,
              error: (error as Error).message,
            });
            // Not resolved: after resume, the next fetch starts again at this record.
            const resume = pause();
            const timer = setTimeout(() => {
              timers.delete(timer);
              resume();
            }, delay);
            timers.add(timer);
            return;
          }
          backoffs.delete(batch.partition);
          handled++;
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
    await kafkaConsumer.disconnect();
    throw error;
  }

  return {
    groupId,
    get handled() {
      return handled;
    },
    get failures() {
      return failures;
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        try {
          await kafkaConsumer.disconnect();
        } finally {
          await consumer.close?.();
        }
      })();
      return stopped;
    },
  };
}

/**
 * When each event became readable from Kafka: a consumer in a group of its own reads the topic
 * from its beginning and notes, per CloudEvents id (`ce_id`), the moment its record arrived. The
 * benchmark compares that with the moment the same event's request got its 200.
 *
 * Permissions: `--allow-net` to the brokers, and the env kafkajs reads.
 *
 * @module
 */
import type { Kafka } from "kafkajs";

/** A running watcher. */
export interface KafkaArrivals {
  /** `performance.now()` of each event id's first arrival. */
  arrivals: Map<string, number>;
  /** Resolves once every id in `ids` has arrived, or after `timeoutMs` (then some are missing). */
  waitFor(ids: string[], timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts watching `topic`; resolves once the consumer has joined its group, so nothing sent after
 * is missed.
 *
 * @param kafka The client.
 * @param topic The topic the service publishes to.
 * @param options `fromBeginning`: read what the topic holds already (default), or only what
 *   arrives after joining.
 * @returns The watcher.
 */
export async function watchArrivals(
  kafka: Kafka,
  topic: string,
  options: { fromBeginning?: boolean } = {},
): Promise<KafkaArrivals> {
  const arrivals = new Map<string, number>();
  const consumer = kafka.consumer({
    groupId: `upbus-bench-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
  const joined = new Promise<void>((resolve) => {
    const remove = consumer.on(consumer.events.GROUP_JOIN, () => {
      remove();
      resolve();
    });
  });
  await consumer.run({
    eachBatch: ({ batch }) => {
      const now = performance.now();
      for (const message of batch.messages) {
        const id = message.headers?.ce_id?.toString();
        if (id !== undefined && !arrivals.has(id)) arrivals.set(id, now);
      }
      return Promise.resolve();
    },
  });
  await joined;
  return {
    arrivals,
    async waitFor(ids, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (performance.now() < deadline && !ids.every((id) => arrivals.has(id))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      await consumer.disconnect();
    },
  };
}

/**
 * Creating upbus's topics when they are missing, with configurable partitions and replication.
 *
 * @module
 */
import type { ITopicConfig, Kafka } from "kafkajs";

/** Options for {@linkcode ensureTopics}. */
export interface EnsureTopicsOptions {
  /** Partitions of each created topic; default 3. */
  partitions?: number;
  /** Replication factor; -1 (default) uses the broker's default. */
  replicationFactor?: number;
  /** Topic configs (`cleanup.policy`, ...) keyed by topic name. */
  configs?: Record<string, Record<string, string>>;
}

/**
 * Creates the topics that do not exist yet; leaves existing ones as they are.
 *
 * @param kafka The process's Kafka client.
 * @param topics The topic names.
 * @param options Partitions, replication and per-topic configs.
 * @returns The names of the topics it created.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: string[],
  options: EnsureTopicsOptions = {},
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length === 0) return [];
    const specs: ITopicConfig[] = missing.map((topic) => ({
      topic,
      numPartitions: options.partitions ?? 3,
      replicationFactor: options.replicationFactor ?? -1,
      configEntries: Object.entries(options.configs?.[topic] ?? {}).map(([name, value]) => ({
        name,
        value,
      })),
    }));
    await admin.createTopics({ topics: specs, waitForLeaders: true });
    return missing;
  } finally {
    await admin.disconnect();
  }
}

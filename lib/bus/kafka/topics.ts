/**
 * Creating upbus's topics when they are missing, with configurable partitions and replication.
 *
 * @module
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Admin, ITopicConfig, Kafka } from "kafkajs";

/** Options for {@linkcode ensureTopics}. */
export interface EnsureTopicsOptions {
  /** Partitions of each created topic; default 3. */
  partitions?: number;
  /** Replication factor; -1 (default) uses the broker's default. */
  replicationFactor?: number;
  /** Topic configs (`cleanup.policy`, ...) keyed by topic name. */
  configs?: Record<string, Record<string, string>>;
  /** Attempts before giving up; default 5. */
  attempts?: number;
}

/**
 * Creates the topics that do not exist yet; leaves existing ones as they are. Tries again after
 * a short pause on failure: another process may be creating the same topic at that moment, and
 * a broker that has just started can call a new topic unknown while its leaders are elected.
 *
 * @param kafka The process's Kafka client.
 * @param topics The topic names.
 * @param options Partitions, replication, per-topic configs and attempts.
 * @returns The names of the topics it created.
 * @throws {Error} The last failure, once every attempt failed.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: string[],
  options: EnsureTopicsOptions = {},
): Promise<string[]> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1;; attempt++) {
    try {
      return await createMissing(kafka, topics, options);
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

/** Resolves once every partition of `topics` has a leader; throws (to be retried) if not. */
async function leadersOf(admin: Admin, topics: string[]): Promise<void> {
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  const leaderless = metadata.filter((topic) =>
    topic.partitions.length === 0 || topic.partitions.some((partition) => partition.leader < 0)
  );
  if (leaderless.length > 0) {
    throw new Error(
      `Cannot use topics: no leader yet for ${leaderless.map((topic) => topic.name).join(", ")}`,
    );
  }
}

async function createMissing(
  kafka: Kafka,
  topics: string[],
  options: EnsureTopicsOptions,
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length === 0) {
      // Listed is not ready: a topic another process has just created can still lack leaders.
      await leadersOf(admin, topics);
      return [];
    }
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
    await leadersOf(admin, topics);
    return missing;
  } finally {
    await admin.disconnect();
  }
}

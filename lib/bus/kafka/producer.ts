/**
 * upbus's one Kafka producer: idempotent, in order, and counting a record as written only when
 * the broker acknowledged its own partition. Every producer of upbus (the relay, its dead
 * letters, the enricher, backfill) is one of these.
 *
 * Why not trust `producer.sendBatch` resolving: kafkajs 2.2.4 can resolve it without having
 * written every partition it was given (tulios/kafkajs#1303, open upstream). Its produce retry
 * keeps each broker's response across attempts (`src/producer/sendMessages.js`,
 * `responsePerBroker`); when a partition's leader dies and leadership moves to a broker that had
 * already answered for another partition of the same call, the moved partition is never sent
 * again, and the call resolves with results for the other partitions only. On a 3-node cluster
 * whose leader was killed under load this lost a batch's share of one partition, 4 to 13 events
 * in ~11 000, while upbus answered Up `200` for each.
 *
 * So: each record is given its partition here (the same one kafkajs's default partitioner picks
 * from its key, so keys keep their partitions), and the result of each send, one
 * `RecordMetadata` per topic-partition, is checked against the partitions that were sent. What
 * is missing, or came back with an error code, is sent again at once with the same producer
 * (kafkajs rolled that partition's sequence number back when its request failed, so the
 * idempotent producer stays in order); what is still missing after `attempts` is reported
 * unacknowledged, and the caller keeps it to send later. A record of a partition that was
 * acknowledged is never sent again by this function, so per-key order holds.
 *
 * @module
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import {
  type Admin,
  type Kafka,
  type Message,
  Partitioners,
  type PartitionMetadata,
  type Producer,
  type RecordMetadata,
} from "kafkajs";

/**
 * Creates and connects an idempotent producer with one request in flight (kafkajs needs that
 * for ordered, deduplicated sends) and the default partitioner.
 *
 * @param kafka The process's client.
 * @returns The connected producer.
 */
async function connectIdempotent(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    // Enough retries inside one send to ride out a leader election (the controller notices a
    // dead broker within its session timeout, 9 s by default) with the same producer id, so that
    // a re-sent record is deduplicated by the broker rather than written twice.
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 3000 },
  });
  await producer.connect();
  return producer;
}

/** One record to publish. */
export interface OutgoingRecord {
  /** The topic. */
  topic: string;
  /** The record; its `partition` is set here from its key. */
  message: Message;
}

/** Options for {@linkcode UpbusProducer.connect}. */
export interface UpbusProducerOptions {
  /** Sends of the still-missing partitions within one call; default 3. */
  attempts?: number;
  /** How long partition counts are trusted before they are fetched again, in ms; default
   * 60000 (a topic's partitions can be added while upbus runs). */
  metadataMaxAgeMs?: number;
}

/** Records that the broker did not acknowledge, for callers that need all or nothing. */
export class UnacknowledgedError extends Error {
  /** How many records were not acknowledged. */
  readonly missing: number;
  /** The topic-partitions not acknowledged, as `topic/partition`. */
  readonly partitions: string[];
  /** Always true: sending again later may succeed. */
  readonly retriable = true;

  /** Makes the error for `missing` records of the `topic/partition`s in `partitions`. */
  constructor(missing: number, partitions: string[]) {
    super(
      `Cannot publish to Kafka: ${missing} record(s) not acknowledged by the broker (${
        partitions.join(", ")
      })`,
    );
    this.name = "UnacknowledgedError";
    this.missing = missing;
    this.partitions = partitions;
  }
}

const partitionOf = (topic: string, partition: number) => `${topic}/${partition}`;

/**
 * An idempotent producer that reports, record by record, which records the broker
 * acknowledged (see the module documentation for why).
 *
 * @example
 * ```ts ignore
 * const producer = await UpbusProducer.connect(kafka);
 * await producer.sendAll([{ topic: "up.transactions", message: { key: "t1", value: "{}" } }]);
 * await producer.disconnect();
 * ```
 */
export class UpbusProducer {
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #attempts: number;
  readonly #maxAgeMs: number;
  readonly #partitioner = Partitioners.DefaultPartitioner();
  readonly #counts = new Map<string, { count: number; at: number }>();
  #admin: Admin | undefined;

  private constructor(kafka: Kafka, producer: Producer, options: UpbusProducerOptions) {
    this.#kafka = kafka;
    this.#producer = producer;
    this.#attempts = options.attempts ?? 3;
    this.#maxAgeMs = options.metadataMaxAgeMs ?? 60_000;
  }

  /**
   * Connects a producer.
   *
   * @param kafka The process's client.
   * @param options Attempts and metadata age.
   * @returns The connected producer.
   */
  static async connect(kafka: Kafka, options: UpbusProducerOptions = {}): Promise<UpbusProducer> {
    return new UpbusProducer(kafka, await connectIdempotent(kafka), options);
  }

  /**
   * Sends the records (acks `-1`) and re-sends the partitions that were not acknowledged, up to
   * `attempts` sends in all.
   *
   * @param records The records, in the order they must keep within each key.
   * @returns One flag per record: true when its partition was acknowledged.
   * @throws {Error} What kafkajs throws when a send fails outright; then nothing can be said of
   * any record, and the caller treats them all as unacknowledged.
   */
  async send(records: OutgoingRecord[]): Promise<boolean[]> {
    const acknowledged = records.map(() => false);
    if (records.length === 0) return acknowledged;
    const placed = await this.#place(records);
    let pending = placed.map((_, index) => index);
    for (let attempt = 1; attempt <= this.#attempts && pending.length > 0; attempt++) {
      const byTopic = new Map<string, Message[]>();
      for (const index of pending) {
        const { topic, message } = placed[index];
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), message]);
      }
      const results: RecordMetadata[] = await this.#producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      const written = new Set(
        results.filter((result) => result.errorCode === 0)
          .map((result) => partitionOf(result.topicName, result.partition)),
      );
      pending = pending.filter((index) => {
        const { topic, message } = placed[index];
        if (!written.has(partitionOf(topic, message.partition!))) return true;
        acknowledged[index] = true;
        return false;
      });
    }
    return acknowledged;
  }

  /**
   * Sends the records; all must be acknowledged.
   *
   * @param records The records.
   * @throws {UnacknowledgedError} If some were not acknowledged after every attempt.
   */
  async sendAll(records: OutgoingRecord[]): Promise<void> {
    const acknowledged = await this.send(records);
    const missing = records.filter((_, index) => !acknowledged[index]);
    if (missing.length > 0) {
      const partitions = [
        ...new Set(missing.map(({ topic, message }) => {
          return partitionOf(topic, message.partition ?? -1);
        })),
      ];
      throw new UnacknowledgedError(missing.length, partitions);
    }
  }

  /** Forgets the partition counts, so that the next send fetches them again. */
  forgetMetadata(): void {
    this.#counts.clear();
  }

  /** Disconnects; a failure to disconnect a broken connection is ignored. */
  async disconnect(): Promise<void> {
    await this.#dropAdmin();
    await this.#producer.disconnect().catch(() => {});
  }

  async #dropAdmin(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.disconnect().catch(() => {});
  }

  /** Copies of the records with `partition` set, as kafkajs's default partitioner would. */
  async #place(records: OutgoingRecord[]): Promise<OutgoingRecord[]> {
    const topics = [...new Set(records.map((record) => record.topic))];
    const now = Date.now();
    const stale = topics.filter((topic) => {
      const known = this.#counts.get(topic);
      return known === undefined || now - known.at > this.#maxAgeMs;
    });
    if (stale.length > 0) {
      if (this.#admin === undefined) {
        const admin = this.#kafka.admin();
        await admin.connect();
        this.#admin = admin;
      }
      try {
        const { topics: metadata } = await this.#admin.fetchTopicMetadata({ topics: stale });
        for (const topic of metadata) {
          this.#counts.set(topic.name, { count: topic.partitions.length, at: now });
        }
      } catch (error) {
        await this.#dropAdmin();
        throw error;
      }
    }
    return records.map(({ topic, message }) => {
      const count = this.#counts.get(topic)?.count ?? 0;
      if (count === 0) throw new Error(`Cannot publish to Kafka: topic ${topic} has no partitions`);
      // Only the length of partitionMetadata counts for a keyed record.
      const partitionMetadata = Array.from(
        { length: count },
        (_, partitionId) => ({ partitionId, leader: 0 }) as PartitionMetadata,
      );
      const partition = message.partition ??
        this.#partitioner({ topic, partitionMetadata, message });
      return { topic, message: { ...message, partition } };
    });
  }
}

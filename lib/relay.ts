/**
 * The relay: publishes stored events to Kafka in arrival order, and marks each one published
 * only after the broker acknowledged it. While the broker is down it retries with backoff; after
 * a restart it resumes from the first unpublished event.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type Admin, type Kafka, type Message, Partitioners, type Producer } from "kafkajs";
import { eventRecord } from "./kafka/record.ts";
import { ensureTopics } from "./kafka/topics.ts";
import type { Logger } from "./log.ts";
import type { Increment } from "./metrics.ts";
import type { RelaySource } from "./store/relay_source.ts";
import type { StoredEvent } from "./store/types.ts";

/** Options for {@linkcode startRelay}. */
export interface RelayOptions {
  /** The process's Kafka client. */
  kafka: Kafka;
  /** Topic for valid events. Dead letters go to `<topic>.dlq`. */
  topic: string;
  /** Partitions for topics the relay creates; default 3. */
  partitions?: number;
  /** Replication factor for topics it creates; default -1 (the broker's default). */
  replicationFactor?: number;
  /** Most events per produce request; default 500. */
  batchSize?: number;
  /** After a partial batch, how long to let the next one fill, in ms; default 20. An idle relay
   * is woken by the next commit at once: this only spaces out sends under load. */
  lingerMs?: number;
  /** How often an idle relay checks that the broker answers, in ms; default 10000. */
  idleCheckMs?: number;
  /** First retry delay in ms after a failure; doubles up to `maxBackoffMs`. Default 250. */
  initialBackoffMs?: number;
  /** Longest retry delay in ms; default 30000. */
  maxBackoffMs?: number;
  logger: Logger;
  /** Counts published events and failed attempts. */
  metrics: { published: Increment; publishErrors: Increment };
  /** Told each time the status changes; default none. */
  onStatus?: (status: RelayStatus) => void;
}

/** What `/readyz` and the logs say of the relay. */
export interface RelayStatus {
  /** The last attempt to reach Kafka succeeded. */
  connected: boolean;
  /** The last failure's message, while not connected. */
  lastError?: string;
}

/** A running relay. */
export interface Relay {
  /** The relay's view of Kafka. */
  status(): RelayStatus;
  /**
   * Resolves once nothing stored is left unpublished, or rejects after `timeoutMs`.
   *
   * @param timeoutMs How long to wait; default 30000.
   */
  drained(timeoutMs?: number): Promise<void>;
  /**
   * Stops: tries to publish what is left for up to `flushMs` (a send under way gets one second
   * more), then disconnects. What is not acknowledged by then stays in the store.
   *
   * @param flushMs How long to keep publishing; default 5000.
   */
  stop(flushMs?: number): Promise<void>;
}

/**
 * Starts relaying the store's unpublished events to Kafka.
 *
 * @param store The store's backlog, on a connection of the relay's own.
 * @param options Kafka client, topic and tuning.
 * @returns The running relay; stop it on shutdown.
 */
export function startRelay(store: RelaySource, options: RelayOptions): Relay {
  const { kafka, topic, logger, metrics } = options;
  const dlqTopic = `${topic}.dlq`;
  const batchSize = options.batchSize ?? 500;
  const lingerMs = options.lingerMs ?? 20;
  const idleCheckMs = options.idleCheckMs ?? 10_000;
  const initialBackoff = options.initialBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  let status: RelayStatus = { connected: false };
  let producer: Producer | undefined;
  let admin: Admin | undefined;
  let topicsReady = false;
  let stopping = false;
  let stopDeadline = Infinity;
  let wake: (() => void) | undefined;
  let drainWaiters: Array<() => void> = [];

  const nudge = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const unsubscribe = store.onCommit(nudge);
  const setStatus = (next: RelayStatus) => {
    const changed = next.connected !== status.connected || next.lastError !== status.lastError;
    status = next;
    if (changed) options.onStatus?.(next);
  };
  /** Waits `ms`, or less when a commit wakes the relay; resolves `true` when woken. */
  const pause = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve(false);
      }, ms);
      wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });

  async function dropProducer(): Promise<void> {
    const [oldProducer, oldAdmin] = [producer, admin];
    producer = undefined;
    admin = undefined;
    for (const client of [oldProducer, oldAdmin]) {
      try {
        await client?.disconnect();
      } catch { /* already broken */ }
    }
  }

  /** While idle, proves the broker still answers, so that /readyz does not go stale. */
  async function checkBroker(): Promise<void> {
    if (admin === undefined) {
      const fresh = kafka.admin();
      await fresh.connect();
      admin = fresh;
    }
    await admin.fetchTopicMetadata({ topics: [topic] });
  }

  async function connected(): Promise<Producer> {
    if (producer !== undefined) return producer;
    const fresh = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await fresh.connect();
    producer = fresh;
    if (!topicsReady) {
      const created = await ensureTopics(kafka, [topic, dlqTopic], {
        partitions: options.partitions,
        replicationFactor: options.replicationFactor,
      });
      if (created.length > 0) logger.info("created Kafka topics", { topics: created });
      topicsReady = true;
    }
    return fresh;
  }

  async function publish(active: Producer, batch: StoredEvent[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const event of batch) {
      const target = event.type === undefined ? dlqTopic : topic;
      const record = eventRecord(event);
      const messages = byTopic.get(target) ?? [];
      messages.push({ key: record.key, value: Buffer.from(record.value), headers: record.headers });
      byTopic.set(target, messages);
    }
    await active.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([name, messages]) => ({ topic: name, messages })),
    });
  }

  async function loop(): Promise<void> {
    let backoff = initialBackoff;
    while (true) {
      if (stopping && Date.now() >= stopDeadline) return;
      let seqs: number[] = [];
      try {
        // Connect before there is anything to send, so that /readyz tells the truth at once.
        const active = await connected();
        if (!status.connected) {
          logger.info("connected to Kafka", { topic, backlog: store.counts().unpublished });
        }
        setStatus({ connected: true });
        const batch = store.unpublished(batchSize);
        if (batch.length === 0) {
          for (const resolve of drainWaiters.splice(0)) resolve();
          if (stopping) return;
          const woken = await pause(idleCheckMs);
          if (!woken && !stopping) await checkBroker();
          continue;
        }
        seqs = batch.map((event) => event.seq);
        await publish(active, batch);
        await store.markPublished(seqs);
        metrics.published.inc({}, batch.length);
        backoff = initialBackoff;
        // Under load, let the next batch fill a little: fewer, larger produce requests cost the
        // broker and this process far less than a request per handful of events.
        if (batch.length < batchSize && lingerMs > 0 && !stopping) {
          await new Promise((resolve) => setTimeout(resolve, lingerMs));
        }
      } catch (error) {
        metrics.publishErrors.inc();
        const message = (error as Error).message;
        if (status.connected || status.lastError !== message) {
          logger.warn("cannot publish to Kafka; events stay stored and will be retried", {
            error: message,
            backlog: store.counts().unpublished,
            retryInMs: backoff,
          });
        }
        setStatus({ connected: false, lastError: message });
        try {
          await store.markFailed(seqs);
        } catch { /* only a counter */ }
        // A failed idempotent producer can be left with sequence numbers the broker no longer
        // accepts; a fresh one gets a new producer id. At worst a record is written twice.
        await dropProducer();
        if (stopping && Date.now() + backoff >= stopDeadline) return;
        await pause(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  const running = loop().catch((error) => {
    logger.error("relay stopped", { error: (error as Error).message });
  });

  return {
    status: () => status,
    drained(timeoutMs = 30_000) {
      if (store.counts().unpublished === 0) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          drainWaiters = drainWaiters.filter((waiter) => waiter !== done);
          reject(
            new Error(`Cannot drain the relay: events still unpublished after ${timeoutMs} ms`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        drainWaiters.push(done);
        nudge();
      });
    },
    async stop(flushMs = 5000) {
      stopping = true;
      stopDeadline = Date.now() + flushMs;
      unsubscribe();
      nudge();
      // A send stuck on an unreachable broker must not hold the shutdown: what it carried stays
      // unpublished in the store and is sent after the next start.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, flushMs + 1000));
      await Promise.race([running, deadline]);
      clearTimeout(timer);
      await dropProducer();
    },
  };
}

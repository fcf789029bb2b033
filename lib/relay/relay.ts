/**
 * The relay: publishes stored events to Kafka in arrival order, and marks each one published
 * only after the broker acknowledged that event's own partition. Its progress is a high-water
 * mark in the store (every event up to it is published) plus the few published above it out of
 * line, when a batch was partly acknowledged: the unacknowledged ones go first in the next
 * attempt, so per-key order holds. While the broker is down it retries with backoff; after a
 * restart it resumes from the mark.
 *
 * @module
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Admin, Kafka } from "kafkajs";
import { Buffer } from "node:buffer";
import { type OutgoingRecord, UpbusProducer } from "../bus/kafka/producer.ts";
import { eventRecord } from "../bus/record.ts";
import { ensureTopics } from "../bus/kafka/topics.ts";
import type { Logger } from "../runtime/log.ts";
import type { Increment } from "../runtime/metrics.ts";
import type { RelaySource } from "./relay_source.ts";
import type { StoredEvent } from "../store/types.ts";

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
  /** Under sustained load the wait after a partial batch doubles from `lingerMs` up to this, in
   * ms, so that batches grow with the load (a produce request costs far more than a record);
   * it starts again from `lingerMs` after a small batch or once the relay has caught up.
   * Default 80. */
  maxLingerMs?: number;
  /** How often an idle relay checks that the broker answers, in ms; default 10000. */
  idleCheckMs?: number;
  /** First retry delay in ms after a failure; doubles up to `maxBackoffMs`. Default 250. */
  initialBackoffMs?: number;
  /** Longest retry delay in ms; default 5000, so that a backlog starts draining within a few
   * seconds of the broker coming back, however long it was away. */
  maxBackoffMs?: number;
  /** Where the relay's state changes and failures are logged. */
  logger: Logger;
  /** Counts published events and failed attempts. */
  metrics: { published: Increment; publishErrors: Increment };
  /** Told each time the status changes; default none. */
  onStatus?: (status: RelayStatus) => void;
  /** Turns a failure into the words a person can act on (a wrong password, an untrusted
   * certificate: see `describeKafkaError`); `fatal` when retrying cannot fix it. Default: the
   * error's own message. */
  explain?: (error: unknown) => { message: string; fatal: boolean } | undefined;
}

/** A batch of at least this many events means load: the wait before the next one grows. Below
 * it (a steady few events a second) the relay sends as soon as it can. */
const LOAD_BATCH = 16;

/** How long the relay waits between attempts when a setting is wrong (see `explain`). */
const FATAL_BACKOFF_MS = 30_000;

/** What `/readyz` and the logs say of the relay. It changes on a change of state, not on
 * every attempt: a relay retrying against a dead broker stays `unreachable` since the first
 * failure. */
export interface RelayStatus {
  /** `connecting`: no attempt has finished yet; `connected`: the last attempt reached Kafka and
   * was acknowledged; `unreachable`: it failed. */
  state: "connecting" | "connected" | "unreachable";
  /** The last attempt to reach Kafka succeeded (`state` is `connected`). */
  connected: boolean;
  /** When the relay entered this state, in ms since the epoch. */
  since: number;
  /** The failure that made it unreachable. */
  lastError?: string;
  /** The last time the relay had nothing left to publish or had just published, in ms since
   * the epoch: with a backlog, how long ago this is says how long publishing has been stuck,
   * even while a connection is open. */
  progressAt: number;
}

/** The status of a relay that has not tried yet. */
export function initialRelayStatus(now: number = Date.now()): RelayStatus {
  return { state: "connecting", connected: false, since: now, progressAt: now };
}

/** Options of {@linkcode describeRelay}. */
export interface DescribeRelayOptions {
  /** Stored events not yet published. */
  backlog: number;
  /** Now, in ms since the epoch. */
  now: number;
  /** How long a backlog may wait without progress before the relay counts as stalled, in ms. */
  stallMs: number;
}

/**
 * The relay's readiness check, in words: `ok`, `unreachable since ...: <cause>`, or `stalled:
 * nothing published for N s with M events waiting`.
 *
 * @param status The relay's status.
 * @param options Backlog, clock and stall threshold.
 * @returns Whether the relay is ready, and the check's text for `/readyz`.
 */
export function describeRelay(
  status: RelayStatus,
  options: DescribeRelayOptions,
): { ready: boolean; text: string } {
  const since = new Date(status.since).toISOString();
  const stuckMs = options.now - status.progressAt;
  if (status.state === "connecting") return { ready: false, text: `connecting since ${since}` };
  if (status.state === "unreachable") {
    return { ready: false, text: `unreachable since ${since}: ${status.lastError}` };
  }
  if (options.backlog > 0 && stuckMs > options.stallMs) {
    return {
      ready: false,
      text: `stalled: nothing published for ${
        Math.round(stuckMs / 1000)
      } s with ${options.backlog} events waiting`,
    };
  }
  return { ready: true, text: "ok" };
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
  const maxLingerMs = Math.max(lingerMs, options.maxLingerMs ?? 80);
  const idleCheckMs = options.idleCheckMs ?? 10_000;
  const initialBackoff = options.initialBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 5000;
  let status: RelayStatus = initialRelayStatus();
  let producer: UpbusProducer | undefined;
  let admin: Admin | undefined;
  let topicsReady = false;
  let stopping = false;
  let stopDeadline = Infinity;
  let wake: (() => void) | undefined;
  let drainWaiters: Array<() => void> = [];

  /** Wakes a pausing relay (the pause itself decides whether it may be woken). */
  const nudge = () => wake?.();
  const unsubscribe = store.onCommit(nudge);
  let toldAt = 0;
  const tell = () => {
    toldAt = Date.now();
    options.onStatus?.(status);
  };
  /** Moves to `state`; `since` stays while the state does, whatever the attempts say. */
  const setState = (state: "connected" | "unreachable", lastError?: string) => {
    if (state === status.state && lastError === status.lastError) return;
    const since = state === status.state ? status.since : Date.now();
    status = { ...status, state, connected: state === "connected", since, lastError };
    tell();
  };
  /** The relay is caught up, or has just published: told at most once a second. */
  const progressed = () => {
    status = { ...status, progressAt: Date.now() };
    if (status.progressAt - toldAt >= 1000) tell();
  };
  /** Waits `ms`, or less when a commit wakes the relay (unless `wakeable` is false: a relay
   * backing off after a failure is not hurried by new events); resolves `true` when woken. */
  const pause = (ms: number, wakeable = true) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve(false);
      }, ms);
      wake = () => {
        if (!wakeable && !stopping) return;
        wake = undefined;
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

  async function connected(): Promise<UpbusProducer> {
    if (producer !== undefined) return producer;
    const fresh = await UpbusProducer.connect(kafka);
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

  /** Publishes a batch; returns the seqs of the events whose partitions were acknowledged. */
  async function publish(active: UpbusProducer, batch: StoredEvent[]): Promise<number[]> {
    const records: OutgoingRecord[] = batch.map((event) => {
      const record = eventRecord(event);
      return {
        topic: event.type === undefined ? dlqTopic : topic,
        message: { key: record.key, value: Buffer.from(record.value), headers: record.headers },
      };
    });
    const acknowledged = await active.send(records);
    return batch.filter((_, index) => acknowledged[index]).map((event) => event.seq);
  }

  async function loop(): Promise<void> {
    let backoff = initialBackoff;
    let linger = lingerMs;
    while (true) {
      if (stopping && Date.now() >= stopDeadline) return;
      let seqs: number[] = [];
      try {
        // Connect before there is anything to send, so that /readyz tells the truth at once.
        const active = await connected();
        let batch = store.unpublished(batchSize);
        if (batch.length === 0 && store.waiting !== undefined) {
          // Ask to be woken by the next commit, then look once more: a commit that landed
          // between the two reads is found now, one after them wakes the pause below.
          store.waiting(true);
          batch = store.unpublished(batchSize);
        }
        if (batch.length === 0) {
          linger = lingerMs;
          if (status.state !== "connected") {
            logger.info("connected to Kafka", { topic, backlog: 0 });
          }
          setState("connected");
          progressed();
          for (const resolve of drainWaiters.splice(0)) resolve();
          if (stopping) return;
          const woken = await pause(idleCheckMs);
          if (woken) progressed(); // caught up until this very commit
          else if (!stopping) await checkBroker();
          continue;
        }
        store.waiting?.(false);
        seqs = batch.map((event) => event.seq);
        const published = await publish(active, batch);
        if (published.length > 0) {
          await store.markPublished(published);
          metrics.published.inc({}, published.length);
          progressed();
        }
        if (published.length < batch.length) {
          // Stays unpublished, first in line for the next attempt: per-key order holds.
          seqs = seqs.filter((seq) => !published.includes(seq));
          throw new Error(
            `${seqs.length} of ${batch.length} events not acknowledged by their partition leaders`,
          );
        }
        if (status.state !== "connected") {
          logger.info("connected to Kafka", { topic, backlog: store.counts().unpublished });
        }
        setState("connected");
        backoff = initialBackoff;
        // Under load, let the next batch fill: fewer, larger produce requests cost the broker
        // and this process far less than a request per handful of events. The longer the load
        // lasts, the longer the wait (up to maxLingerMs); a full batch goes at once.
        if (batch.length < batchSize && linger > 0 && !stopping) {
          await new Promise((resolve) => setTimeout(resolve, linger));
          linger = batch.length >= LOAD_BATCH ? Math.min(linger * 2, maxLingerMs) : lingerMs;
        }
      } catch (error) {
        store.waiting?.(false);
        metrics.publishErrors.inc();
        const problem = options.explain?.(error);
        const message = problem?.message ?? (error as Error).message;
        // A setting that is wrong (a password, a CA) is said once, at error level, and retried
        // slowly: only a change on the broker's side or a restart with a new setting fixes it.
        if (problem?.fatal) backoff = Math.max(backoff, FATAL_BACKOFF_MS);
        if (problem?.fatal && status.lastError !== message) {
          logger.error(`cannot publish to Kafka: ${message}`, {
            backlog: store.counts().unpublished,
            retryInMs: backoff,
          });
        } else if (status.state !== "unreachable") {
          logger.warn("cannot publish to Kafka; events stay stored and will be retried", {
            error: message,
            backlog: store.counts().unpublished,
            retryInMs: backoff,
          });
        } else {
          logger.debug("still cannot publish to Kafka", { error: message, retryInMs: backoff });
        }
        setState("unreachable", message);
        try {
          await store.markFailed(seqs);
        } catch { /* only a counter */ }
        // A failed idempotent producer can be left with sequence numbers the broker no longer
        // accepts; a fresh one gets a new producer id. At worst a record is written twice.
        await dropProducer();
        if (stopping && Date.now() + backoff >= stopDeadline) return;
        await pause(backoff, false);
        backoff = Math.min(backoff * 2, Math.max(maxBackoff, problem?.fatal ? backoff : 0));
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

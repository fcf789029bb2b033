/**
 * @module Consumer runner
 * Runs a {@linkcode Consumer} over a {@linkcode RecordSource} (Kafka or the local log), at least
 * once: a record's position is committed only after its handler resolved; a handler that throws
 * gets the same record again after a backoff (doubling, or as long as an error's `retryAt` asks),
 * so nothing is skipped. A handler that throws a {@linkcode ConsumerFailure} instead ends the run:
 * nothing is committed for that record and `failed` resolves, for a supervisor to start the
 * consumer again. One runner for both modes: the source decides where records come from.
 */
import type { Logger } from "../runtime/log.ts";
import { type Consumer, ConsumerFailure, type ConsumerMessage } from "./consumer.ts";
import type { HandleControl, RecordSource, Subscription } from "./source.ts";

/** Options for {@linkcode startConsumer}. */
export interface StartConsumerOptions {
  /** Where records come from: `kafkaRecordSource(kafka)` or `localLogRecordSource(log)`. */
  source: RecordSource;
  /**
   * The consumer group. Default `<groupPrefix>-<name>`, or a fresh one per start for `replay`.
   */
  groupId?: string;
  /** The first part of the default group's name (`CONSUMER_GROUP_PREFIX`). Default `upbus`. */
  groupPrefix?: string;
  /** Where failures are told. Default nowhere. */
  logger?: Logger;
  /** First delay before handling a failed record again, in ms; doubles. Default 500. */
  initialBackoffMs?: number;
  /** Longest such delay, in ms. Default 30 000. */
  maxBackoffMs?: number;
  /** The clock, epoch ms, for errors that say when to retry (`retryAt`). Default `Date.now`. */
  now?: () => number;
}

/** A running consumer. */
export interface RunningConsumer {
  /** The consumer group it runs in. */
  groupId: string;
  /** Where it started reading, in words (see {@linkcode Subscription.start}). */
  readonly start: string;
  /** Records handled since start. */
  readonly handled: number;
  /** Failed handler calls since start (each is retried). */
  readonly failures: number;
  /**
   * Resolves with the {@linkcode ConsumerFailure} a handler threw: the consumer no longer reads
   * and must be stopped (and may be started again, from its committed position). Never rejects.
   */
  readonly failed: Promise<Error>;
  /** Stops: finishes the record in hand, releases the source, then calls the consumer's `close()`. */
  stop(): Promise<void>;
}

/** Longest single wait while retrying, so a Kafka source can heartbeat in between. */
const HEARTBEAT_STEP_MS = 1000;

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
 * Starts a consumer over a source. Resolves once it reads.
 *
 * @param consumer The consumer: name, topic, handler.
 * @param options The source, group and backoff.
 * @returns The running consumer; stop it on shutdown (Deno's leak checks notice otherwise).
 * @throws {Error} If the source cannot be reached or the topic cannot be read.
 *
 * @example
 * ```ts
 * import { startConsumer } from "./runner.ts";
 * import { openLocalLog } from "./local/local_log.ts";
 * import { localLogRecordSource } from "./local/local_log_source.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * log.append("up.transactions", [{ key: "tx-1", value: null }]);
 * const keys: Array<string | null> = [];
 * const running = await startConsumer(
 *   { name: "keys", topic: "up.transactions", handle: (message) => void keys.push(message.key) },
 *   { source: localLogRecordSource(log, { pollMs: 10 }) },
 * );
 * while (running.handled < 1) await new Promise((resolve) => setTimeout(resolve, 10));
 * await running.stop();
 * if (log.committed("upbus-keys", "up.transactions") !== 1) throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function startConsumer(
  consumer: Consumer,
  options: StartConsumerOptions,
): Promise<RunningConsumer> {
  const replay = consumer.replay ?? false;
  const prefix = options.groupPrefix ?? "upbus";
  const groupId = options.groupId ??
    (replay ? `${prefix}-${consumer.name}-${crypto.randomUUID()}` : `${prefix}-${consumer.name}`);
  const initialBackoff = options.initialBackoffMs ?? 500;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const { logger, source } = options;
  const now = options.now ?? Date.now;
  const sleepers = new Set<() => void>();
  let handled = 0;
  let failures = 0;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  const failure = Promise.withResolvers<Error>();
  let failedWith: Error | undefined;

  /** Waits `ms`, heartbeating every second; returns early once stopping or no longer active. */
  async function wait(ms: number, control: HandleControl): Promise<void> {
    const until = now() + ms;
    while (!stopping && control.active()) {
      const left = until - now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, HEARTBEAT_STEP_MS));
        function done() {
          clearTimeout(timer);
          sleepers.delete(done);
          resolve();
        }
        sleepers.add(done);
      });
      if (!stopping && control.active()) await control.heartbeat();
    }
  }

  async function handleUntilDone(message: ConsumerMessage, control: HandleControl) {
    let backoff = initialBackoff;
    while (!stopping && failedWith === undefined && control.active()) {
      try {
        await consumer.handle(message);
        handled++;
        return true;
      } catch (error) {
        failures++;
        if (error instanceof ConsumerFailure) {
          failedWith = error;
          logger?.error("consumer cannot go on; its record is not committed", {
            consumer: consumer.name,
            source: source.kind,
            topic: message.topic,
            partition: message.partition,
            offset: message.offset,
            error: error.message,
          });
          failure.resolve(error);
          return false;
        }
        const delay = Math.max(backoff, retryAtDelay(error, now));
        backoff = Math.min(backoff * 2, maxBackoff);
        logger?.warn("cannot handle record; retrying it", {
          consumer: consumer.name,
          source: source.kind,
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          retryInMs: delay,
          error: (error as Error).message,
        });
        await wait(delay, control);
      }
    }
    return false;
  }

  const subscription: Subscription = await source.subscribe(handleUntilDone, {
    topic: consumer.topic,
    groupId,
    replay,
    fromBeginning: replay || (consumer.fromBeginning ?? true),
    startAtEnd: !replay && (consumer.startAtEnd ?? false),
    logger,
  });

  return {
    groupId,
    start: subscription.start,
    get handled() {
      return handled;
    },
    get failures() {
      return failures;
    },
    failed: failure.promise,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        for (const wake of [...sleepers]) wake();
        try {
          await subscription.stop();
        } finally {
          await consumer.close?.();
        }
      })();
      return stopped;
    },
  };
}

/**
 * @module Embedded consumer runner
 * Runs a {@linkcode Consumer} without Kafka (embedded mode): it polls a source (by default the
 * consumer's topic in the local log, `DATA_DIR/pipeline.db`) in offset order, at least once,
 * like the Kafka runner: the group's offset is committed in the local log only after the handler
 * resolved; a handler that throws gets the same record again after a backoff, so nothing is
 * skipped. A `replay` consumer reads from offset 0 on every start and commits nothing.
 */
import type { Logger } from "../log.ts";
import type { LocalLog } from "../store/local_log.ts";
import type { Consumer, ConsumerMessage } from "./consumer.ts";
import { retryAtDelay, type RunningConsumer } from "./runner.ts";

/** Where an embedded consumer reads: a topic of the local log, or the event store. */
export interface EmbeddedSource {
  /** Its name in the committed offsets: the topic, or `events.db` for the enricher. */
  name: string;
  /** Records from offset `from` on, at most `limit`, in offset order; empty at the end. */
  read(from: number, limit: number): ConsumerMessage[];
  /** The offset after the last record now: where a group that starts at the end starts. */
  end(): number;
}

/** Options for {@linkcode startEmbeddedConsumer}. */
export interface StartEmbeddedConsumerOptions {
  /** The local log: where offsets are committed, and the default source. */
  log: LocalLog;
  /** What to read. Default the consumer's topic in `log`. */
  source?: EmbeddedSource;
  /** The consumer group whose offset is committed. Default `upbus-<name>`. */
  groupId?: string;
  /** Milliseconds between polls once the source is read to its end. Default 500. */
  pollMs?: number;
  /** Records read per poll. Default 100. */
  batchSize?: number;
  /** Where failures are told. Default nowhere. */
  logger?: Logger;
  /** First delay before handling a failed record again, in ms; doubles. Default 500. */
  initialBackoffMs?: number;
  /** Longest such delay, in ms. Default 30 000. */
  maxBackoffMs?: number;
  /** The clock, epoch ms, for errors that say when to retry (`retryAt`). Default `Date.now`. */
  now?: () => number;
}

/**
 * The source that reads a topic of the local log.
 *
 * @param log The local log.
 * @param topic The topic.
 * @returns The source.
 *
 * @example
 * ```ts
 * import { openLocalLog } from "../store/local_log.ts";
 * import { localLogSource } from "./embedded_runner.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * log.append("up.transactions", [{ key: "tx-1", value: null }]);
 * if (localLogSource(log, "up.transactions").end() !== 1) throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function localLogSource(log: LocalLog, topic: string): EmbeddedSource {
  return {
    name: topic,
    read: (from, limit) => log.read(topic, { from, limit }),
    end: () => log.end(topic),
  };
}

/**
 * Starts a consumer in embedded mode. Resolves once it runs.
 *
 * @param consumer The consumer: name, topic, handler.
 * @param options The local log, source, group, polling and backoff.
 * @returns The running consumer; stop it on shutdown.
 * @throws {Error} If the local log cannot be read.
 *
 * @example
 * ```ts
 * import { openLocalLog } from "../store/local_log.ts";
 * import { startEmbeddedConsumer } from "./embedded_runner.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * log.append("up.transactions", [{ key: "tx-1", value: null }]);
 * const keys: Array<string | null> = [];
 * const running = await startEmbeddedConsumer(
 *   { name: "keys", topic: "up.transactions", handle: (message) => void keys.push(message.key) },
 *   { log, pollMs: 10 },
 * );
 * while (running.handled < 1) await new Promise((resolve) => setTimeout(resolve, 10));
 * await running.stop();
 * if (log.committed("upbus-keys", "up.transactions") !== 1) throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function startEmbeddedConsumer(
  consumer: Consumer,
  options: StartEmbeddedConsumerOptions,
): Promise<RunningConsumer> {
  const { log, logger } = options;
  const source = options.source ?? localLogSource(log, consumer.topic);
  const replay = consumer.replay ?? false;
  const groupId = options.groupId ?? `upbus-${consumer.name}`;
  const pollMs = options.pollMs ?? 500;
  const batchSize = options.batchSize ?? 100;
  const initialBackoff = options.initialBackoffMs ?? 500;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const now = options.now ?? Date.now;
  let next: number;
  try {
    next = replay ? 0 : log.committed(groupId, source.name) ??
      ((consumer.fromBeginning ?? true) ? 0 : source.end());
  } catch (error) {
    return Promise.reject(error);
  }
  let handled = 0;
  let failures = 0;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
  }

  /** Handles one record until it succeeds or the consumer stops; returns whether it did. */
  async function handleUntilDone(message: ConsumerMessage): Promise<boolean> {
    let backoff = initialBackoff;
    while (!stopping) {
      try {
        await consumer.handle(message);
        return true;
      } catch (error) {
        failures++;
        const delay = Math.max(backoff, retryAtDelay(error, now));
        backoff = Math.min(backoff * 2, maxBackoff);
        logger?.warn("cannot handle record; retrying it", {
          consumer: consumer.name,
          source: source.name,
          offset: message.offset,
          retryInMs: delay,
          error: (error as Error).message,
        });
        await pause(delay);
      }
    }
    return false;
  }

  async function run(): Promise<void> {
    while (!stopping) {
      let batch: ConsumerMessage[];
      try {
        batch = source.read(next, batchSize);
      } catch (error) {
        logger?.warn("cannot read the source; retrying", {
          consumer: consumer.name,
          source: source.name,
          error: (error as Error).message,
        });
        await pause(Math.max(pollMs, initialBackoff));
        continue;
      }
      for (const message of batch) {
        if (!(await handleUntilDone(message))) return;
        handled++;
        next = Number(message.offset) + 1;
        if (replay) continue;
        try {
          log.commit(groupId, source.name, next);
        } catch (error) {
          // The next commit covers this one; until then a restart handles it again.
          logger?.warn("cannot commit the offset; carrying on", {
            consumer: consumer.name,
            offset: next,
            error: (error as Error).message,
          });
        }
      }
      if (batch.length < batchSize) await pause(pollMs);
    }
  }

  const running = run();
  return Promise.resolve({
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
        clearTimeout(timer);
        wake?.();
        try {
          await running;
        } finally {
          await consumer.close?.();
        }
      })();
      return stopped;
    },
  });
}

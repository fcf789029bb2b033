/**
 * @module Local log record source
 * The {@linkcode RecordSource} of embedded mode: it reads the local log (`DATA_DIR/pipeline.db`),
 * or another {@linkcode OffsetReader} such as the event store, in offset order, and commits the
 * group's offset in the local log only after the handler is done. Read to its end, it waits for
 * a commit announced in this process (lib/runtime/wake.ts), or for its poll interval, which finds
 * another process's writes. A replay reads from offset 0
 * on every start and commits nothing.
 *
 * One process reads a group at a time: the subscription takes the group's lease in the local
 * log before it reads, renews it while it runs and releases it on stop; a second process of the
 * same group waits, and takes over when the first stops or, killed, lets its lease expire. A
 * group with no position starts where its consumer asks (the beginning, or the end) and commits
 * that position at once, so a restart before the first record resumes there.
 */
import type { ConsumerMessage } from "../consumer.ts";
import type { RecordSource } from "../source.ts";
import { watchWrites } from "../../runtime/wake.ts";
import { LeaseLostError, type LocalLog } from "./local_log.ts";

/** Records readable by offset: a topic of the local log, or the event store. */
export interface OffsetReader {
  /** Its name in the committed offsets: the topic, or `events.db` for the enricher. */
  name: string;
  /** Records from offset `from` on, at most `limit`, in offset order; empty at the end. */
  read(from: number, limit: number): ConsumerMessage[];
  /** The offset after the last record now: where a group that starts at the end starts. */
  end(): number;
  /** The file it reads, watched for writes; none: only the fallback timer wakes the source. */
  path?: string;
  /**
   * A number that changes when another process commits to the file (SQLite's `data_version`);
   * none: only writes announced in this process and the fallback timer wake the source.
   */
  changes?(): number;
  /** Releases the reader, when it holds anything. */
  close?(): void;
}

/** Options for {@linkcode localLogRecordSource}. */
export interface LocalLogRecordSourceOptions {
  /**
   * What to read instead of the subscribed topic of the log (the enricher reads the event store).
   * Closed when the subscription stops.
   */
  reader?: OffsetReader;
  /**
   * Once the source is read to its end, the longest wait before reading again, in ms. Default
   * 500. Meanwhile a commit announced in this process wakes it at once, and another process's
   * commit is seen by a check of the file's change counter ({@linkcode OffsetReader.changes})
   * that runs often while records flow and ever less often once they stop (see
   * {@linkcode checkInterval}).
   */
  pollMs?: number;
  /** Records read per poll. Default 100. */
  batchSize?: number;
  /**
   * How long a group's lease lasts unless renewed, in ms: how soon a second process takes over
   * from one that was killed. Renewed every third of it. Default 10 000.
   */
  leaseMs?: number;
}

/** The shortest interval between two checks for another process's commit, in ms. */
export const MIN_CHECK_MS = 5;

/**
 * How long a source read to its end waits before it checks again whether another process
 * committed to its file: a twentieth of the time since it last read a record, at least
 * {@linkcode MIN_CHECK_MS} and at most `pollMs`. While records arrive a few times a second, a
 * hand-off between processes waits a few milliseconds; a pipeline idle for ten seconds checks
 * every `pollMs` (500 ms by default), as a fixed poll did.
 *
 * @param sinceRecordMs Milliseconds since the source last read a record.
 * @param pollMs The longest wait.
 * @returns The wait before the next check, in ms.
 *
 * @example
 * ```ts
 * import { checkInterval } from "./local_log_source.ts";
 * if (checkInterval(100, 500) !== 5 || checkInterval(60_000, 500) !== 500) throw new Error("unexpected");
 * ```
 */
export function checkInterval(sinceRecordMs: number, pollMs: number): number {
  return Math.min(pollMs, Math.max(MIN_CHECK_MS, Math.floor(sinceRecordMs / 20)));
}

/**
 * The reader of one topic of the local log.
 *
 * @param log The local log.
 * @param topic The topic.
 * @returns The reader.
 *
 * @example
 * ```ts
 * import { openLocalLog } from "./local_log.ts";
 * import { localTopicReader } from "./local_log_source.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * log.append("up.transactions", [{ key: "tx-1", value: null }]);
 * if (localTopicReader(log, "up.transactions").end() !== 1) throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function localTopicReader(log: LocalLog, topic: string): OffsetReader {
  return {
    name: topic,
    path: log.path,
    changes: () => log.dataVersion(),
    read: (from, limit) => log.read(topic, { from, limit }),
    end: () => log.end(topic),
  };
}

/**
 * The source that reads the local log (embedded mode) and commits offsets there.
 *
 * @param log The local log: where offsets are committed, and what is read by default.
 * @param options Another reader, polling and batch size.
 * @returns The source.
 *
 * @example
 * ```ts
 * import { openLocalLog } from "./local_log.ts";
 * import { localLogRecordSource } from "./local_log_source.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * log.append("up.transactions", [{ key: "tx-1", value: null }]);
 * const ends = await localLogRecordSource(log).endOffsets("up.transactions");
 * if (ends[0] !== "1") throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function localLogRecordSource(
  log: LocalLog,
  options: LocalLogRecordSourceOptions = {},
): RecordSource {
  const pollMs = options.pollMs ?? 500;
  const batchSize = options.batchSize ?? 100;
  const leaseMs = options.leaseMs ?? 10_000;
  return {
    kind: "local",
    endOffsets: (topic) =>
      Promise.resolve({ 0: String((options.reader ?? localTopicReader(log, topic)).end()) }),
    unreadEndOffsets(topic, groupId): Promise<Record<number, string>> {
      const reader = options.reader ?? localTopicReader(log, topic);
      const end = reader.end();
      const read = log.committed(groupId, reader.name) ?? 0;
      const unread: Record<number, string> = end > read ? { 0: String(end) } : {};
      return Promise.resolve(unread);
    },
    subscribe(handle, { topic, groupId, replay, fromBeginning, startAtEnd, logger }) {
      const reader = options.reader ?? localTopicReader(log, topic);
      const source = reader.name;
      let next = 0;
      let holding = false;
      let lost = false;
      let stopping = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let renewal: ReturnType<typeof setInterval> | undefined;
      let wake: (() => void) | undefined;
      /** A write seen since the last read began: the next pause returns at once. */
      let written = false;
      /** Whether the current pause ends on a write (the lease wait does not: it ends on its timer). */
      let onWrites = false;
      const watch = reader.path === undefined ? undefined : watchWrites(reader.path, () => {
        written = true;
        if (onWrites) wake?.();
      });
      const control = { active: () => !stopping && !lost, heartbeat: () => Promise.resolve() };

      /** When a record was last read, epoch ms: how often the next pause checks for commits. */
      let lastRecordAt = Date.now();
      /** The file's change counter just before the last read: a commit after it ends a pause. */
      let seenBeforeRead: number | undefined;

      /**
       * Waits `ms`, or less: until a commit announced in this process (`untilWrite`) or, checked
       * at {@linkcode checkInterval}, until another process's commit changed the file.
       */
      function pause(ms: number, untilWrite = true): Promise<void> {
        onWrites = untilWrite;
        if ((written && untilWrite) || stopping) return Promise.resolve();
        return new Promise((resolve) => {
          const until = Date.now() + ms;
          const done = () => {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          };
          wake = done;
          if (!untilWrite || reader.changes === undefined) {
            timer = setTimeout(done, ms);
            return;
          }
          const seen = seenBeforeRead;
          const check = () => {
            const now = Date.now();
            if (now >= until) return done();
            let changed: boolean;
            try {
              changed = reader.changes!() !== seen;
            } catch {
              // A busy or closed file: the read after the wait says what is wrong.
              changed = true;
            }
            if (changed) return done();
            timer = setTimeout(check, Math.min(until - now, checkInterval(now - lastRecordAt, ms)));
          };
          timer = setTimeout(check, checkInterval(Date.now() - lastRecordAt, ms));
        });
      }

      /** Takes the lease when it is free; returns who holds it otherwise. */
      function take(): string | null {
        const holder = log.acquire(groupId, source, leaseMs);
        if (holder !== null) return holder.owner;
        holding = true;
        lost = false;
        const committed = log.committed(groupId, source);
        if (startAtEnd) {
          next = Math.max(committed ?? 0, reader.end());
          log.commit(groupId, source, next);
        } else if (committed === null) {
          // Kept from the first second: a restart before the first record starts here too.
          next = fromBeginning ? 0 : reader.end();
          log.commit(groupId, source, next);
        } else {
          next = committed;
        }
        renewal = setInterval(renew, Math.max(1, Math.floor(leaseMs / 3)));
        return null;
      }

      function renew(): void {
        try {
          const holder = log.acquire(groupId, source, leaseMs);
          if (holder !== null) loseLease(holder.owner);
        } catch (error) {
          // Busy for longer than the busy timeout: the next renewal tries again, well in time.
          logger?.warn("cannot renew the group's lease; trying again", {
            group: groupId,
            source,
            error: (error as Error).message,
          });
        }
      }

      function loseLease(holder: string | null): void {
        if (lost) return;
        lost = true;
        holding = false;
        clearInterval(renewal);
        logger?.warn("another process took over this consumer group; waiting to take it back", {
          group: groupId,
          source,
          holder,
        });
        wake?.();
      }

      let start: string;
      try {
        if (replay) {
          start = "from the beginning, committing nothing (replay)";
        } else {
          const before = log.committed(groupId, source);
          const holder = take();
          start = holder !== null
            ? `waiting: another process (${holder}) reads ${groupId}; this one takes over when it stops`
            : startAtEnd
            ? `from the end: new records only (offset ${next})`
            : before !== null
            ? `from its committed position (offset ${before})`
            : fromBeginning
            ? "from the beginning"
            : `from the end: new records only (offset ${next})`;
        }
      } catch (error) {
        watch?.close();
        reader.close?.();
        return Promise.reject(error);
      }

      /** Reads while this process holds the group (or replays); returns when stopping or lost. */
      async function read(): Promise<"stopped" | "lost"> {
        while (!stopping && !lost) {
          let batch: ConsumerMessage[];
          written = false;
          try {
            seenBeforeRead = reader.changes?.();
            batch = reader.read(next, batchSize);
            if (batch.length > 0) lastRecordAt = Date.now();
          } catch (error) {
            logger?.warn("cannot read the local source; retrying", {
              source,
              error: (error as Error).message,
            });
            await pause(Math.max(pollMs, 500));
            continue;
          }
          for (const message of batch) {
            if (!(await handle(message, control))) return lost && !stopping ? "lost" : "stopped";
            if (replay) {
              next = Number(message.offset) + 1;
              continue;
            }
            try {
              log.commit(groupId, source, Number(message.offset) + 1);
              next = Number(message.offset) + 1;
            } catch (error) {
              if (error instanceof LeaseLostError) {
                loseLease(error.holder);
                return "lost";
              }
              next = Number(message.offset) + 1;
              // The next commit covers this one; until then a restart handles it again.
              logger?.warn("cannot commit the offset; carrying on", {
                source,
                offset: next,
                error: (error as Error).message,
              });
            }
          }
          if (batch.length < batchSize && !stopping && !lost) await pause(pollMs);
        }
        return stopping ? "stopped" : "lost";
      }

      async function run(): Promise<void> {
        let waiting = !replay && !holding;
        while (!stopping) {
          if (waiting) {
            let holder: string | null;
            try {
              holder = take();
            } catch (error) {
              holder = `unknown (${(error as Error).message})`;
            }
            if (holder !== null) {
              await pause(Math.min(1000, leaseMs), false);
              continue;
            }
            logger?.info("took over the consumer group", { group: groupId, source, offset: next });
          }
          if ((await read()) === "stopped") return;
          waiting = true;
        }
      }

      const running = run();
      let stopped: Promise<void> | undefined;
      return Promise.resolve({
        start,
        stop() {
          stopped ??= (async () => {
            stopping = true;
            clearTimeout(timer);
            clearInterval(renewal);
            watch?.close();
            wake?.();
            try {
              await running;
            } finally {
              try {
                if (holding) log.release(groupId, source);
              } catch {
                // Then it expires on its own within leaseMs.
              }
              reader.close?.();
            }
          })();
          return stopped;
        },
      });
    },
  };
}

/**
 * @module Local log record source
 * The {@linkcode RecordSource} of embedded mode: it polls the local log (`DATA_DIR/pipeline.db`),
 * or another {@linkcode OffsetReader} such as the event store, in offset order, and commits the
 * group's offset in the local log only after the handler is done. A replay reads from offset 0
 * on every start and commits nothing.
 */
import type { ConsumerMessage } from "../consumer.ts";
import type { RecordSource } from "../source.ts";
import type { LocalLog } from "./local_log.ts";

/** Records readable by offset: a topic of the local log, or the event store. */
export interface OffsetReader {
  /** Its name in the committed offsets: the topic, or `events.db` for the enricher. */
  name: string;
  /** Records from offset `from` on, at most `limit`, in offset order; empty at the end. */
  read(from: number, limit: number): ConsumerMessage[];
  /** The offset after the last record now: where a group that starts at the end starts. */
  end(): number;
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
  /** Milliseconds between polls once the source is read to its end. Default 500. */
  pollMs?: number;
  /** Records read per poll. Default 100. */
  batchSize?: number;
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
    subscribe(handle, { topic, groupId, replay, fromBeginning, logger }) {
      const reader = options.reader ?? localTopicReader(log, topic);
      let next: number;
      try {
        next = replay ? 0 : log.committed(groupId, reader.name) ??
          (fromBeginning ? 0 : reader.end());
      } catch (error) {
        reader.close?.();
        return Promise.reject(error);
      }
      let stopping = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake: (() => void) | undefined;
      const control = { active: () => !stopping, heartbeat: () => Promise.resolve() };

      function pause(ms: number): Promise<void> {
        return new Promise((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, ms);
        });
      }

      async function run(): Promise<void> {
        while (!stopping) {
          let batch: ConsumerMessage[];
          try {
            batch = reader.read(next, batchSize);
          } catch (error) {
            logger?.warn("cannot read the local source; retrying", {
              source: reader.name,
              error: (error as Error).message,
            });
            await pause(Math.max(pollMs, 500));
            continue;
          }
          for (const message of batch) {
            if (!(await handle(message, control))) return;
            next = Number(message.offset) + 1;
            if (replay) continue;
            try {
              log.commit(groupId, reader.name, next);
            } catch (error) {
              // The next commit covers this one; until then a restart handles it again.
              logger?.warn("cannot commit the offset; carrying on", {
                source: reader.name,
                offset: next,
                error: (error as Error).message,
              });
            }
          }
          if (batch.length < batchSize && !stopping) await pause(pollMs);
        }
      }

      const running = run();
      let stopped: Promise<void> | undefined;
      return Promise.resolve({
        stop() {
          stopped ??= (async () => {
            stopping = true;
            clearTimeout(timer);
            wake?.();
            try {
              await running;
            } finally {
              reader.close?.();
            }
          })();
          return stopped;
        },
      });
    },
  };
}

/**
 * @module Local log transaction sink
 * The enricher's {@linkcode TransactionSink} in embedded mode: appends each record to the
 * `up.transactions` topic of the local log and commits the source's cursor (after the event in
 * hand) in the same transaction, so even a crash between the append and the runner's own commit
 * publishes nothing twice.
 */
import type { TransactionSink } from "../sink.ts";
import type { LocalLog } from "./local_log.ts";

/** Options for {@linkcode localLogTransactionSink}. */
export interface LocalLogTransactionSinkOptions {
  /** The enriched topic. */
  topic: string;
  /** The enricher's group, whose cursor is committed with each record. */
  groupId: string;
  /** The source's name in the committed offsets (`events.db`). */
  sourceName: string;
}

/**
 * The sink that appends to the local log.
 *
 * @param log The local log (the caller closes it).
 * @param options Topic, group and source name.
 * @returns The sink.
 *
 * @example
 * ```ts
 * import { openLocalLog } from "./local_log.ts";
 * import { localLogTransactionSink } from "./local_log_sink.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * const sink = localLogTransactionSink(log, { topic: "t", groupId: "g", sourceName: "events.db" });
 * const after = { topic: "e", partition: 0, offset: "4", key: null, value: null, headers: {}, timestamp: "0" };
 * await sink.publish({ key: "tx-1", value: null, headers: {} }, after);
 * if (log.committed("g", "events.db") !== 5 || log.end("t") !== 1) throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function localLogTransactionSink(
  log: LocalLog,
  options: LocalLogTransactionSinkOptions,
): TransactionSink {
  const { topic, groupId, sourceName } = options;
  return {
    name: `${log.path} (${topic})`,
    publish(record, after) {
      log.append(topic, [record], {
        commit: { group: groupId, source: sourceName, offset: Number(after.offset) + 1 },
      });
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}

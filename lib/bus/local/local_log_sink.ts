/**
 * @module Local log transaction sink
 * The {@linkcode TransactionSink} of embedded mode: appends each record to the `up.transactions`
 * topic of the local log unless the key's latest record there is in a newer state
 * (`../transaction_state.ts`), checked inside the append's own write transaction so that two
 * writers racing (the enricher and backfill, or reconciliation) cannot both win. The enricher's
 * sink also commits the source's cursor (after the event in hand) in the same transaction,
 * skipped record or not, so even a crash between the append and the runner's own commit
 * publishes nothing twice.
 */
import type { TransactionSink } from "../sink.ts";
import { stateOf, supersedes } from "../transaction_state.ts";
import type { LocalLog, LocalRecord } from "./local_log.ts";

/** Options for {@linkcode localLogTransactionSink}. */
export interface LocalLogTransactionSinkOptions {
  /** The enriched topic. */
  topic: string;
  /** The enricher's group, whose cursor is committed with each record. Default none (backfill
   * and reconciliation read no source). */
  groupId?: string;
  /** The source's name in the committed offsets (`events.db`), with `groupId`. */
  sourceName?: string;
}

/** The state order, as the local log asks it of a record and its key's latest one. */
function newer(next: LocalRecord, last: LocalRecord | undefined): boolean {
  return supersedes(stateOf(next), last === undefined ? undefined : stateOf(last));
}

/**
 * The sink that appends to the local log.
 *
 * @param log The local log (the caller closes it).
 * @param options Topic, and the group and source name whose cursor each publish commits.
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
 * // A second tombstone of tx-1 is a repeat: skipped, and the cursor still moves on.
 * const again = await sink.publish({ key: "tx-1", value: null, headers: {} }, { ...after, offset: "5" });
 * if (again !== "skipped-stale" || log.committed("g", "events.db") !== 6 || log.end("t") !== 1) {
 *   throw new Error("unexpected");
 * }
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function localLogTransactionSink(
  log: LocalLog,
  options: LocalLogTransactionSinkOptions,
): TransactionSink {
  const { topic, groupId, sourceName } = options;
  if ((groupId === undefined) !== (sourceName === undefined)) {
    throw new TypeError("Cannot create local log sink: groupId and sourceName go together");
  }
  return {
    name: `${log.path} (${topic})`,
    publish(record, after) {
      const commit = groupId !== undefined && after !== undefined
        ? { group: groupId, source: sourceName!, offset: Number(after.offset) + 1 }
        : undefined;
      const [offset] = log.append(topic, [record], { commit, supersedes: newer });
      return Promise.resolve(offset === null ? "skipped-stale" : "published");
    },
    publishAll(records) {
      const offsets = log.append(topic, records, { supersedes: newer });
      return Promise.resolve(
        offsets.map((offset) => offset === null ? "skipped-stale" : "published"),
      );
    },
    close: () => Promise.resolve(),
  };
}

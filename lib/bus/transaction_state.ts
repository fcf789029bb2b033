/**
 * @module Transaction state order
 * The one rule every writer of `up.transactions` (the enricher, backfill, reconciliation) follows,
 * applied by the sinks in both modes: a transaction's states are ordered `HELD` < `SETTLED` <
 * deleted (a tombstone ends its key), and a record is published only when its state is higher
 * than the key's last published one, or the same state with a different value (an amount or a
 * description that changed). An older state fetched before a newer one was written (a backfill
 * page, a lagging enricher) is skipped, never published over it.
 */
import { createHash } from "node:crypto";

/** A transaction's state as its record says: Up's status, or `DELETED` for a tombstone. */
export type TransactionState = "HELD" | "SETTLED" | "DELETED" | "UNKNOWN";

/** The order of states; `UNKNOWN` (a value that is not a transaction with a known status) is
 * outside it. */
const RANK: Readonly<Record<TransactionState, number>> = {
  UNKNOWN: 0,
  HELD: 1,
  SETTLED: 2,
  DELETED: 3,
};

/** What the rule needs of a published record: its state and a digest of its value. */
export interface StateMark {
  /** The record's state. */
  state: TransactionState;
  /** The SHA-256 of the value in hex; `tombstone` for a null value. */
  digest: string;
}

/**
 * The state and value digest of a record of `up.transactions`.
 *
 * @param record A record (or its stored row): only its value is read.
 * @returns Its state (`DELETED` for a null value, `UNKNOWN` for a value that is not a transaction
 * with status `HELD` or `SETTLED`) and the digest of its value.
 *
 * @example
 * ```ts
 * import { stateOf } from "./transaction_state.ts";
 * const held = stateOf({ value: '{"type":"transactions","id":"tx-1","attributes":{"status":"HELD"}}' });
 * if (held.state !== "HELD" || stateOf({ value: null }).state !== "DELETED") throw new Error("unexpected");
 * ```
 */
export function stateOf(record: { value: string | Uint8Array | null }): StateMark {
  const { value } = record;
  if (value === null) return { state: "DELETED", digest: "tombstone" };
  const digest = createHash("sha256").update(value).digest("hex");
  let status: unknown;
  try {
    const text = typeof value === "string" ? value : new TextDecoder().decode(value);
    status = JSON.parse(text)?.attributes?.status;
  } catch {
    status = undefined;
  }
  const state: TransactionState = status === "HELD" || status === "SETTLED" ? status : "UNKNOWN";
  return { state, digest };
}

/**
 * Whether a record in state `next` may be published over the key's last published `last`.
 *
 * @param next The state and digest of the record to publish.
 * @param last The key's last published one, or `undefined` when the key has none.
 * @returns True for a first record, a higher state, or the same state with a different value;
 * false for a lower state or a repeat. With an `UNKNOWN` state on either side only the value
 * counts: a different value is published.
 *
 * @example
 * ```ts
 * import { supersedes } from "./transaction_state.ts";
 * const held = { state: "HELD", digest: "a" } as const;
 * const settled = { state: "SETTLED", digest: "b" } as const;
 * if (!supersedes(settled, held) || supersedes(held, settled)) throw new Error("unexpected");
 * ```
 */
export function supersedes(next: StateMark, last: StateMark | undefined): boolean {
  if (last === undefined) return true;
  const [rankNext, rankLast] = [RANK[next.state], RANK[last.state]];
  if (rankNext === 0 || rankLast === 0 || rankNext === rankLast) return next.digest !== last.digest;
  return rankNext > rankLast;
}

/** What a sink did with a record: published it, or skipped it as older than the key's last. */
export type PublishOutcome = "published" | "skipped-stale";

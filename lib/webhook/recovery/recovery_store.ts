/**
 * @module Recovery store
 * What recovery and reconciliation need of the event store: which event ids it holds, the events
 * of each transaction, appends through the store's writer (so a recovered event gets the same
 * group commit, dedupe and relay wake-up as a live one), and the `reconciled` table (on a
 * connection of its own, as the relay's marks are) of what reconciliation published.
 */
import { openSqlite } from "../../runtime/sqlite.ts";
import type { EventStore } from "../../store/event_store.ts";
import { inTransaction, type TransactionEventRow } from "../../store/queries.ts";
import type { AppendOutcome, NewEvent } from "../../store/types.ts";
import type { LogRecoveryStore } from "./log_recovery.ts";
import { reconciledPairKey, type ReconcileStore } from "./reconcile.ts";

/** The event store seen by recovery; `close()` closes its own connection only. */
export interface RecoveryStore extends LogRecoveryStore, ReconcileStore {
  /** Up's `createdAt` of the first event stored, or `undefined` on an empty store. */
  firstEventCreatedAt(): string | undefined;
  /** Closes the store's own connection (the service's stays open). */
  close(): void;
}

/**
 * Wraps an open event store (migrated to version 2 by its writer).
 *
 * @param store The event store.
 * @returns The recovery store; close it before the event store.
 */
export function recoveryStore(store: EventStore): RecoveryStore {
  const db = openSqlite(store.path);
  return {
    known: (ids) => store.known(ids),
    append: (event: NewEvent): Promise<AppendOutcome> => store.append(event),
    transactionEvents: (ids): Map<string, TransactionEventRow[]> => store.transactionEvents(ids),
    reconciled(pairs) {
      const found = new Set<string>();
      const statement = db.prepare(
        "SELECT 1 FROM reconciled WHERE transaction_id = ? AND status = ?",
      );
      for (const { id, status } of pairs) {
        if (statement.get(id, status) !== undefined) found.add(reconciledPairKey(id, status));
      }
      return found;
    },
    markReconciled(pairs) {
      const at = new Date().toISOString();
      inTransaction(db, () => {
        const statement = db.prepare(
          "INSERT OR IGNORE INTO reconciled (transaction_id, status, published_at) VALUES (?, ?, ?)",
        );
        for (const { id, status } of pairs) statement.run(id, status, at);
      });
    },
    firstEventCreatedAt() {
      const row = db.prepare(
        "SELECT created_at FROM events WHERE created_at IS NOT NULL ORDER BY seq LIMIT 1",
      ).get() as { created_at: string } | undefined;
      return row?.created_at;
    },
    close: () => db.close(),
  };
}

/**
 * @module Transaction states file
 * What Kafka cannot answer, the latest state of a key of `up.transactions`, kept beside it in
 * `DATA_DIR/transaction_states.db`: per transaction id, the state and value digest of the last
 * record a sink published and the broker acknowledged (`../transaction_state.ts`). Every writer of
 * the topic in Kafka mode (the enricher's sink, backfill, reconciliation) consults it before a
 * send and writes it after the acknowledgement, so an older state is never sent over a newer
 * one. Several processes share the file (busy timeout, WAL); a write never moves a key's state
 * back, so two writers that raced leave the newer state.
 *
 * What it cannot close: two processes that both checked before either wrote both send; the
 * topic then holds the later send, whichever it is. The window is one send long.
 */
import type { DatabaseSync } from "node:sqlite";
import { openVersioned, type VersionedSchema } from "../../runtime/versioned_db.ts";
import { type StateMark, supersedes, type TransactionState } from "../transaction_state.ts";

/** The file's name under `DATA_DIR`. */
export const TRANSACTION_STATES_FILE = "transaction_states.db";

/** `DATA_DIR/transaction_states.db`'s formats, oldest first. */
export const TRANSACTION_STATES_SCHEMA: VersionedSchema = {
  name: "transaction states",
  migrations: [
    {
      version: 1,
      description: "the last published state and value digest per transaction",
      up: (db) =>
        db.exec(
          `CREATE TABLE IF NOT EXISTS states (
             key TEXT PRIMARY KEY,
             state TEXT NOT NULL,
             digest TEXT NOT NULL,
             updated_at INTEGER NOT NULL
           ) STRICT`,
        ),
    },
  ],
};

/** The last published state of each key, in `DATA_DIR/transaction_states.db`. */
export class TransactionStates {
  #db: DatabaseSync;
  #now: () => number;

  /** Use {@linkcode openTransactionStates}. */
  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * The key's last published state.
   *
   * @param key The transaction id.
   * @returns Its state and digest, or `undefined` when nothing was published for it here.
   */
  last(key: string): StateMark | undefined {
    const row = this.#db.prepare("SELECT state, digest FROM states WHERE key = ?").get(key) as
      | { state: TransactionState; digest: string }
      | undefined;
    return row === undefined ? undefined : { state: row.state, digest: row.digest };
  }

  /**
   * Remembers that these records were acknowledged, in one transaction; a key whose stored state
   * supersedes the new one (another writer got there first) keeps it.
   *
   * @param marks Each key with the state and digest it was published with, in send order.
   */
  remember(marks: readonly { key: string; mark: StateMark }[]): void {
    if (marks.length === 0) return;
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const write = db.prepare(
        `INSERT INTO states (key, state, digest, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET state = excluded.state, digest = excluded.digest,
           updated_at = excluded.updated_at`,
      );
      const now = this.#now();
      for (const { key, mark } of marks) {
        const stored = this.last(key);
        if (stored !== undefined && !supersedes(mark, stored)) continue;
        write.run(key, mark.state, mark.digest, now);
      }
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Closes the file. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Options for {@linkcode openTransactionStates}. */
export interface TransactionStatesOptions {
  /** The clock of `updated_at`, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * Opens (and creates, owner-only) `DATA_DIR/transaction_states.db`; safe when several processes
 * open it at once.
 *
 * @param dataDir The data directory; created when missing.
 * @param options The clock.
 * @returns The open file; close it when done.
 * @throws {NewerFileError} If a newer upbus wrote the file.
 *
 * @example
 * ```ts
 * import { openTransactionStates } from "./transaction_states.ts";
 * const dir = await Deno.makeTempDir();
 * const states = openTransactionStates(dir);
 * states.remember([{ key: "tx-1", mark: { state: "SETTLED", digest: "b" } }]);
 * states.remember([{ key: "tx-1", mark: { state: "HELD", digest: "a" } }]);
 * if (states.last("tx-1")?.state !== "SETTLED") throw new Error("unexpected");
 * states.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openTransactionStates(
  dataDir: string,
  options: TransactionStatesOptions = {},
): TransactionStates {
  const path = `${dataDir.replace(/\/+$/, "")}/${TRANSACTION_STATES_FILE}`;
  // Several processes (enrich, backfill, the service's reconciliation) may create it together.
  const db = openVersioned(path, TRANSACTION_STATES_SCHEMA, { synchronous: "FULL" });
  return new TransactionStates(db, options.now ?? Date.now);
}

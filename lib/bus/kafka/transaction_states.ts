/**
 * @module Transaction states file
 * What Kafka cannot answer, the latest state of a key of `up.transactions`, kept beside it in
 * `DATA_DIR/transaction_states.db`: per topic and transaction id, the state and value digest of the last
 * record a sink published and the broker acknowledged (`../transaction_state.ts`). Every writer of
 * the topic in Kafka mode (the enricher's sink, backfill, reconciliation) consults it before a
 * send and writes it after the acknowledgement, so an older state is never sent over a newer
 * one. Several processes share the file (busy timeout, WAL); a write never moves a key's state
 * back, so two writers that raced leave the newer state.
 *
 * What it cannot close: two processes that both checked before either wrote both send; the
 * topic then holds the later send, whichever it is. The window is one send long. And it speaks
 * for the topic as this data directory's writers wrote it: after the topic is deleted and made
 * again, delete the file too (or its writers skip every state they had published before).
 */
import type { DatabaseSync } from "node:sqlite";
import { openVersioned, type VersionedSchema } from "../../runtime/versioned_db.ts";
import { type StateMark, supersedes, type TransactionState } from "../transaction_state.ts";
import { DEFAULT_TRANSACTIONS_TOPIC } from "../transaction_record.ts";

/** The file's name under `DATA_DIR`. */
export const TRANSACTION_STATES_FILE = "transaction_states.db";

/** `DATA_DIR/transaction_states.db`'s formats, oldest first. */
export const TRANSACTION_STATES_SCHEMA: VersionedSchema = {
  name: "transaction states",
  migrations: [
    {
      version: 1,
      description: "the last published state and value digest per topic and transaction",
      up: (db) =>
        db.exec(
          `CREATE TABLE IF NOT EXISTS states (
             topic TEXT NOT NULL,
             key TEXT NOT NULL,
             state TEXT NOT NULL,
             digest TEXT NOT NULL,
             updated_at INTEGER NOT NULL,
             PRIMARY KEY (topic, key)
           ) STRICT`,
        ),
    },
  ],
};

/** The last published state of each key of one topic, in `DATA_DIR/transaction_states.db`. */
export class TransactionStates {
  #db: DatabaseSync;
  #topic: string;
  #now: () => number;

  /** Use {@linkcode openTransactionStates}. */
  constructor(db: DatabaseSync, topic: string, now: () => number) {
    this.#db = db;
    this.#topic = topic;
    this.#now = now;
  }

  /**
   * The key's last published state.
   *
   * @param key The transaction id.
   * @returns Its state and digest, or `undefined` when nothing was published for it here.
   */
  last(key: string): StateMark | undefined {
    const row = this.#db.prepare(
      "SELECT state, digest FROM states WHERE topic = ? AND key = ?",
    ).get(this.#topic, key) as
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
        `INSERT INTO states (topic, key, state, digest, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (topic, key) DO UPDATE SET state = excluded.state, digest = excluded.digest,
           updated_at = excluded.updated_at`,
      );
      const now = this.#now();
      for (const { key, mark } of marks) {
        const stored = this.last(key);
        if (stored !== undefined && !supersedes(mark, stored)) continue;
        write.run(this.#topic, key, mark.state, mark.digest, now);
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
  /** The enriched topic whose keys it keeps. Default `up.transactions`. */
  topic?: string;
  /** The clock of `updated_at`, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * Opens (and creates, owner-only) `DATA_DIR/transaction_states.db`; safe when several processes
 * open it at once.
 *
 * @param dataDir The data directory; created when missing.
 * @param options The topic and the clock.
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
  return new TransactionStates(
    db,
    options.topic ?? DEFAULT_TRANSACTIONS_TOPIC,
    options.now ?? Date.now,
  );
}

/**
 * The relay's own connection to the event store: it reads the backlog and records what Kafka
 * acknowledged (the relay's mark), from the relay's worker, beside the intake's writer (SQLite
 * WAL lets them share the file; a busy timeout orders their short write transactions).
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { openSqlite } from "../runtime/sqlite.ts";
import {
  countEvents,
  markPublished,
  selectUnpublished,
  type StoreCounts,
  updateFailed,
} from "../store/queries.ts";
import type { StoredEvent } from "../store/types.ts";

/** What the relay needs of the store. */
export interface RelaySource {
  /** Events not yet published, oldest first, at most `limit`. */
  unpublished(limit: number): StoredEvent[];
  /** Records that Kafka acknowledged these events. */
  markPublished(seqs: number[]): void | Promise<void>;
  /** Counts one more failed publish attempt for these events. */
  markFailed(seqs: number[]): void | Promise<void>;
  /** Stored and unpublished counts. */
  counts(): StoreCounts;
  /** Calls `listener` when new events may have been committed; returns an unsubscribe. */
  onCommit(listener: () => void): () => void;
  /**
   * Says whether the relay waits for a commit (`true`: about to read the store one last time
   * before it pauses) or is busy (`false`). A source may then wake it only while it waits; the
   * relay reads the store after saying so, so a commit in between is never missed. Default: a
   * source that wakes it on every commit.
   */
  waiting?(waiting: boolean): void;
}

/** Options of {@linkcode SqliteRelaySource}. */
export interface SqliteRelaySourceOptions {
  /** Shared with the thread that announces commits: set to 1 while the relay waits, so that the
   * announcer sends a wake-up only then (and sets it back to 0). Default: none. */
  waitFlag?: Int32Array;
}

/** A {@linkcode RelaySource} on its own SQLite connection. */
export class SqliteRelaySource implements RelaySource {
  #db: DatabaseSync;
  #listeners = new Set<() => void>();
  #waitFlag: Int32Array | undefined;

  /**
   * Opens the connection. The store must exist (the intake's writer creates it).
   *
   * @param path The database file.
   * @param options The flag that says when the relay waits.
   */
  constructor(path: string, options: SqliteRelaySourceOptions = {}) {
    // A lost mark costs a record sent twice, not an event: no fsync for marks. The intake's
    // next synchronous commit makes them durable anyway (same WAL).
    this.#db = openSqlite(path, { synchronous: "NORMAL" });
    this.#waitFlag = options.waitFlag;
  }

  unpublished(limit: number): StoredEvent[] {
    return selectUnpublished(this.#db, { limit });
  }

  markPublished(seqs: number[]): void {
    if (seqs.length > 0) markPublished(this.#db, seqs);
  }

  markFailed(seqs: number[]): void {
    if (seqs.length > 0) updateFailed(this.#db, seqs);
  }

  counts(): StoreCounts {
    return countEvents(this.#db);
  }

  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  waiting(waiting: boolean): void {
    if (this.#waitFlag !== undefined) Atomics.store(this.#waitFlag, 0, waiting ? 1 : 0);
  }

  /** Tells the listeners that the intake committed (the worker calls it on each wake-up). */
  notifyCommit(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Closes the connection. */
  close(): void {
    this.#db.close();
  }
}

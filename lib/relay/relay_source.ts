/**
 * The relay's own connection to the event store: it reads the backlog and marks what Kafka
 * acknowledged, from the relay's worker, beside the intake's writer (SQLite WAL lets them share
 * the file; a busy timeout orders their short write transactions).
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { openSqlite } from "../runtime/sqlite.ts";
import {
  countEvents,
  selectUnpublished,
  type StoreCounts,
  updateFailed,
  updatePublished,
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
}

/** A {@linkcode RelaySource} on its own SQLite connection. */
export class SqliteRelaySource implements RelaySource {
  #db: DatabaseSync;
  #listeners = new Set<() => void>();
  #now: () => Date;

  /**
   * Opens the connection. The store must exist (the intake's writer creates it).
   *
   * @param path The database file.
   * @param options `now`: the clock for publish times; default `() => new Date()`.
   */
  constructor(path: string, options: { now?: () => Date } = {}) {
    // A lost mark costs a record sent twice, not an event: no fsync for marks. The intake's
    // next synchronous commit makes them durable anyway (same WAL).
    this.#db = openSqlite(path, { synchronous: "NORMAL" });
    this.#now = options.now ?? (() => new Date());
  }

  unpublished(limit: number): StoredEvent[] {
    return selectUnpublished(this.#db, { limit });
  }

  markPublished(seqs: number[]): void {
    if (seqs.length > 0) updatePublished(this.#db, seqs, this.#now().toISOString());
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

  /** Tells the listeners that the intake committed (the worker calls it on each wake-up). */
  notifyCommit(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Closes the connection. */
  close(): void {
    this.#db.close();
  }
}

/**
 * The durable event store (`node:sqlite`, WAL, synchronous commits): every authentic webhook is
 * committed here before Up gets its 200, and the relay publishes from here. Appends that arrive
 * while a commit is under way are committed together in the next one (group commit).
 *
 * @module
 */
import { announceWrite } from "../runtime/wake.ts";
import type { DatabaseSync } from "node:sqlite";
import { openSqlite } from "../runtime/sqlite.ts";
import type { WriterReply, WriterRequest } from "./store_worker.ts";
import type { MigrationReport } from "../runtime/versioned_db.ts";
import { createOwnerOnly } from "../runtime/owner_only.ts";
import {
  countEvents,
  selectEvent,
  selectKnownEventIds,
  selectTransactionEvents,
  type StoreCounts,
  type TransactionEventRow,
} from "./queries.ts";
import {
  type AppendOutcome,
  type NewEvent,
  type StoredEvent,
  StoreUnavailableError,
} from "./types.ts";

export type { StoreCounts };

type WriterOp = WriterRequest extends infer R ? R extends { op: infer O } ? O : never : never;
type Payload<O extends WriterOp> = Omit<Extract<WriterRequest, { op: O }>, "id" | "op">;

interface Waiter {
  resolve(reply: WriterReply & { ok: true }): void;
  reject(error: Error): void;
}

interface QueuedAppend {
  event: NewEvent;
  resolve(outcome: AppendOutcome): void;
  reject(error: Error): void;
}

/** How long a failed commit of webhooks keeps `/readyz` not ready, unless one succeeds. */
export const COMMIT_FAILURE_WINDOW_MS = 60_000;

/** Options for {@linkcode openEventStore}. */
export interface EventStoreOptions {
  /** Path of the SQLite database file; created with its directory when missing. */
  path: string;
  /** Told when opening brought an existing file to a newer format, with the copy kept first if
   * a migration rewrote data (the service logs it); not for a new file. Default: nobody. */
  onMigrated?: (report: MigrationReport) => void;
}

/** The event store. Create it with {@linkcode openEventStore}; close it on shutdown. */
export class EventStore {
  #worker: Worker;
  #reader: DatabaseSync | undefined;
  #nextId = 1;
  #waiters = new Map<number, Waiter>();
  #queue: QueuedAppend[] = [];
  #committing = false;
  #closed = false;
  #failure: Error | undefined;
  #commitListeners = new Set<() => void>();
  #commits = 0;
  /** The last failed commit of webhooks, until one succeeds: what `/readyz` reports. */
  #commitFailure: { at: number; message: string } | undefined;
  #path = "";
  #appended = 0;

  /** Use {@linkcode openEventStore}. */
  constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (message: MessageEvent<WriterReply>) => this.#settle(message.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(
        new StoreUnavailableError(`Cannot write events: the writer died (${event.message})`),
      );
    };
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  /** @internal Opens the database in the writer, then the reader here. */
  async open(path: string): Promise<MigrationReport> {
    const { migration } = await this.#call("open", { path });
    this.#reader = openSqlite(path, { readOnly: true });
    this.#path = path;
    return migration!;
  }

  #settle(reply: WriterReply): void {
    const waiter = this.#waiters.get(reply.id);
    if (waiter === undefined) return;
    this.#waiters.delete(reply.id);
    if (reply.ok) waiter.resolve(reply);
    else {
      waiter.reject(
        new StoreUnavailableError(
          `Cannot commit to the event store: ${reply.error}${reply.code ? ` (${reply.code})` : ""}`,
        ),
      );
    }
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const waiter of this.#waiters.values()) waiter.reject(error);
    this.#waiters.clear();
    for (const queued of this.#queue.splice(0)) queued.reject(error);
  }

  #call<O extends WriterOp>(op: O, payload: Payload<O>): Promise<WriterReply & { ok: true }> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closed) {
      return Promise.reject(new StoreUnavailableError("Cannot write events: the store is closed"));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiters.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, ...payload } as WriterRequest);
    });
  }

  /**
   * Commits an event durably. Resolves only once it is on disk.
   *
   * @param event The authentic body and what was read from it.
   * @returns `"stored"`, or `"duplicate"` when the event id was already stored.
   * @throws {StoreUnavailableError} If the commit failed: the caller must not answer 200.
   */
  append(event: NewEvent): Promise<AppendOutcome> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closed) {
      return Promise.reject(new StoreUnavailableError("Cannot write events: the store is closed"));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      if (!this.#committing) this.#commitQueued();
    });
  }

  async #commitQueued(): Promise<void> {
    this.#committing = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      try {
        const { outcomes } = await this.#call("append", { events: batch.map((q) => q.event) });
        this.#commits++;
        this.#appended += batch.length;
        this.#commitFailure = undefined;
        batch.forEach((queued, index) => queued.resolve(outcomes![index]));
        for (const listener of this.#commitListeners) listener();
        // Readers of events.db in this isolate (`enrich` in `upbus run`) read what was committed.
        announceWrite(this.#path);
      } catch (error) {
        this.#commitFailure = { at: Date.now(), message: (error as Error).message };
        for (const queued of batch) queued.reject(error as Error);
      }
    }
    this.#committing = false;
  }

  /**
   * Calls `listener` after each commit that may have added events (wakes the relay).
   *
   * @param listener Called with no arguments.
   * @returns A function that removes the listener.
   */
  onCommit(listener: () => void): () => void {
    this.#commitListeners.add(listener);
    return () => this.#commitListeners.delete(listener);
  }

  /**
   * Reads one event by its id.
   *
   * @param eventId Up's event id (or a dead letter's `sha256:` key).
   * @returns The event, whether Kafka acknowledged it (and when, for an event published before
   *   events.db version 3), or `undefined` when it is not stored.
   */
  get(eventId: string): (StoredEvent & { published: boolean; publishedAt?: string }) | undefined {
    return selectEvent(this.#readerOrThrow(), eventId);
  }

  /**
   * Which of these event ids are stored (recovery's dedupe before it appends).
   *
   * @param eventIds Up's event ids.
   * @returns The ids found.
   */
  known(eventIds: readonly string[]): Set<string> {
    return selectKnownEventIds(this.#readerOrThrow(), eventIds);
  }

  /**
   * The stored events about each of these transactions (reconciliation's question).
   *
   * @param transactionIds Up's transaction ids.
   * @returns Per transaction with any, its events' types and arrival times.
   */
  transactionEvents(transactionIds: readonly string[]): Map<string, TransactionEventRow[]> {
    return selectTransactionEvents(this.#readerOrThrow(), transactionIds);
  }

  /**
   * How well group commit works so far.
   *
   * @returns Appends committed and the commits they took: the group-commit ratio.
   */
  stats(): { appends: number; commits: number } {
    return { appends: this.#appended, commits: this.#commits };
  }

  /**
   * How many events are stored, and how many not yet published.
   *
   * @returns The number of stored and of unpublished events.
   */
  counts(): StoreCounts {
    return countEvents(this.#readerOrThrow());
  }

  /**
   * Proves the store can commit: a one-row write, and no commit of webhooks failed in the last
   * {@linkcode COMMIT_FAILURE_WINDOW_MS} without one succeeding since. A one-row write alone fits
   * in the space a rolled-back batch left on a full disk while every webhook is refused.
   *
   * @throws {StoreUnavailableError} If it cannot, or webhooks are being refused.
   */
  async probe(): Promise<void> {
    await this.#call("probe", { at: new Date().toISOString() });
    const failure = this.#commitFailure;
    if (failure !== undefined && Date.now() - failure.at < COMMIT_FAILURE_WINDOW_MS) {
      const seconds = Math.round((Date.now() - failure.at) / 1000);
      throw new StoreUnavailableError(
        `webhooks are answered 503: the last commit failed ${seconds} s ago (${failure.message}); free space on the disk of ${this.#path} (DATA_DIR) or fix the cause`,
      );
    }
  }

  #readerOrThrow(): DatabaseSync {
    if (this.#reader === undefined) {
      throw new StoreUnavailableError("Cannot read events: the store is closed");
    }
    return this.#reader;
  }

  /** Waits for queued commits, then closes both connections and the writer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#committing) await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.#failure === undefined) {
      try {
        await this.#call("close", {});
      } catch { /* the writer is gone already */ }
    }
    this.#closed = true;
    this.#reader?.close();
    this.#reader = undefined;
    this.#worker.terminate();
  }
}

/**
 * Says in words what opening the store did to its format, for a command's output.
 *
 * @param path The store's file.
 * @param report What {@linkcode EventStoreOptions.onMigrated} was told.
 * @returns One line: the versions, and where the copy of the previous file is.
 *
 * @example
 * ```ts
 * import { describeMigration } from "./event_store.ts";
 * const line = describeMigration("data/events.db", { from: 2, to: 3, backup: "data/events.db.v2.bak" });
 * if (!line.includes("data/events.db.v2.bak")) throw new Error(line);
 * ```
 */
export function describeMigration(path: string, report: MigrationReport): string {
  const copy = report.backup === undefined ? "" : `; the previous file is kept at ${report.backup}`;
  return `${path}: event store migrated from format ${report.from} to ${report.to}${copy}`;
}

/**
 * Opens (creating when missing) the event store.
 *
 * @param options Where the database file lives.
 * @returns The open store.
 * @throws {StoreUnavailableError} If the file cannot be created or opened for writing.
 *
 * @example
 * ```ts ignore
 * import { openEventStore } from "./event_store.ts";
 * const store = await openEventStore({ path: "./data/events.db" });
 * await store.close();
 * ```
 */
export async function openEventStore(options: EventStoreOptions): Promise<EventStore> {
  createOwnerOnly(options.path);
  const worker = new Worker(new URL("./store_worker.ts", import.meta.url).href, {
    type: "module",
    name: "upbus-store-writer",
  });
  const store = new EventStore(worker);
  try {
    const migration = await store.open(options.path);
    // A new file goes through every step too: only an existing one's migration is news.
    const existed = migration.from > 0 || migration.backup !== undefined;
    if (migration.from !== migration.to && existed) options.onMigrated?.(migration);
  } catch (error) {
    worker.terminate();
    throw new StoreUnavailableError(
      `Cannot open the event store at "${options.path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  return store;
}

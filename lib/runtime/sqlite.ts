/**
 * @module SQLite files shared by processes
 * Opens an upbus SQLite file so that several processes may create, open and change it at the
 * same moment (`enrich`, `consume ledger` and `consume notify` started together on a fresh data
 * directory). `busy_timeout` is set before anything else touches the file, and the two steps it
 * does not cover are made safe here:
 * - `PRAGMA journal_mode = WAL` on a file still in rollback mode (a fresh one) needs a write
 *   lock that SQLite takes without calling the busy handler: when another process holds one
 *   (creating its tables, switching the same file), it fails at once with "database is locked".
 *   The switch is retried until the busy timeout runs out.
 * - A deferred transaction that reads and then writes fails at once (no busy wait) when another
 *   process wrote in between: schema creation and migrations run in
 *   {@linkcode writeTransaction} (`BEGIN IMMEDIATE`), which waits for the write lock first.
 */
import { DatabaseSync } from "node:sqlite";

/** How long a connection waits for another process's lock, in ms. */
export const BUSY_TIMEOUT_MS = 5000;

/** Options for {@linkcode openSqlite}. */
export interface OpenSqliteOptions {
  /** Open read-only (no WAL switch: the writer does it). Default `false`. */
  readOnly?: boolean;
  /** `PRAGMA synchronous`; default SQLite's own (`FULL`). */
  synchronous?: "FULL" | "NORMAL";
  /** Switch the file to WAL (it stays so). Default `true` unless `readOnly`. */
  wal?: boolean;
  /** How long to wait for other processes' locks, ms. Default {@linkcode BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number;
}

/** True for SQLite's SQLITE_BUSY ("database is locked") and its extended codes. */
export function isBusy(error: unknown): boolean {
  const code = (error as { errcode?: unknown })?.errcode;
  if (typeof code === "number") return (code & 0xff) === 5;
  return /database is locked/.test((error as Error)?.message ?? "");
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Opens a SQLite file shared by several processes: busy timeout first, then WAL (retried while
 * another process holds the lock the switch needs), then `synchronous`.
 *
 * @param path The database file (create it owner-only first, with `createOwnerOnly`).
 * @param options Read-only, WAL, synchronous and busy timeout.
 * @returns The open connection; close it on shutdown.
 * @throws {Error} "database is locked" if another process held the file's write lock for the
 *   whole busy timeout; any other SQLite error at once.
 *
 * @example
 * ```ts
 * import { openSqlite, writeTransaction } from "./sqlite.ts";
 * const dir = Deno.makeTempDirSync();
 * const db = openSqlite(`${dir}/x.db`, { synchronous: "FULL" });
 * writeTransaction(db, () => db.exec("CREATE TABLE IF NOT EXISTS t (x INTEGER) STRICT"));
 * const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
 * if (mode.journal_mode !== "wal") throw new Error("unexpected");
 * db.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function openSqlite(path: string, options: OpenSqliteOptions = {}): DatabaseSync {
  const readOnly = options.readOnly ?? false;
  const timeout = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
  const db = new DatabaseSync(path, { readOnly, timeout });
  try {
    // Before any statement: every later lock wait goes through it.
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(timeout))}`);
    if (options.wal ?? !readOnly) switchToWal(db, timeout);
    if (options.synchronous !== undefined) db.exec(`PRAGMA synchronous = ${options.synchronous}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function switchToWal(db: DatabaseSync, timeoutMs: number): void {
  const deadline = performance.now() + timeoutMs;
  for (let wait = 2;; wait = Math.min(wait * 2, 50)) {
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (error) {
      if (!isBusy(error) || performance.now() >= deadline) throw error;
    }
    sleepSync(wait);
  }
}

/**
 * Runs `body` in a write transaction taken at once (`BEGIN IMMEDIATE`, which waits up to the
 * busy timeout for other processes), committed when it returns and rolled back when it throws.
 *
 * @param db The connection.
 * @param body What to do inside; must not open a transaction of its own.
 * @returns What `body` returned.
 * @throws What `body` threw, after the rollback.
 *
 * @example
 * ```ts
 * import { openSqlite, writeTransaction } from "./sqlite.ts";
 * const dir = Deno.makeTempDirSync();
 * const db = openSqlite(`${dir}/x.db`);
 * writeTransaction(db, () => db.exec("CREATE TABLE t (x INTEGER)"));
 * try {
 *   writeTransaction(db, () => {
 *     db.exec("INSERT INTO t VALUES (1)");
 *     throw new Error("changed my mind");
 *   });
 * } catch {
 *   // rolled back
 * }
 * const row = db.prepare("SELECT count(*) AS n FROM t").get() as { n: number };
 * if (row.n !== 0) throw new Error("unexpected");
 * db.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeTransaction<T>(db: DatabaseSync, body: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = body();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

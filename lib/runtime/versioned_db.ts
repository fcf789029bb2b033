/**
 * Versioned SQLite files: every database upbus writes records its format in `PRAGMA
 * user_version` and is brought to the current format, in order, when it is opened, before anything
 * reads it.
 *
 * - Version 1 is the format every file had before formats were versioned; its migration creates
 *   the tables when missing, so a file from then (user_version 0, tables present) and a new empty
 *   file both go through it unchanged or created.
 * - Each migration runs in its own `BEGIN IMMEDIATE` transaction that also sets the version, so a
 *   crash leaves the file at one version or the next, and several processes opening one file at
 *   once migrate it once (the others wait on the write lock, then find it done).
 * - When a migration that rewrites data is due, a consistent copy of the file as it was opened is
 *   written beside it first (`<file>.v<N>.bak`, N its version then), owner-only, and said where.
 * - A file written by a newer upbus is refused with {@linkcode NewerFileError} and never changed.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { createOwnerOnly } from "./owner_only.ts";
import { openSqlite, type OpenSqliteOptions } from "./sqlite.ts";

/** One step from the previous format to `version`. */
export interface Migration {
  /** The format this step produces: 1 for the first, then 2, 3, ... without gaps. */
  version: number;
  /** What it changes, in a few words, for logs and `data status`. */
  description: string;
  /** Whether it rewrites stored data (not only adds): a copy of the file is kept first. */
  rewritesData?: boolean;
  /** Applies the step; runs inside a transaction the caller opened. */
  up(db: DatabaseSync): void;
}

/** The formats of one kind of file. */
export interface VersionedSchema {
  /** What the file is, for messages: `event store`, `local log`, ... */
  name: string;
  /** Every step, oldest first. */
  migrations: readonly Migration[];
}

/** How a file was brought to the current format. */
export interface MigrationReport {
  /** The version it had when opened (0: written before versions). */
  from: number;
  /** The version it has now. */
  to: number;
  /** The copy kept before a migration that rewrites data, if one ran. */
  backup?: string;
}

/** Options for {@linkcode openVersioned}: how to open the file, and who hears of migrations. */
export interface OpenVersionedOptions extends Omit<OpenSqliteOptions, "readOnly"> {
  /** Told what was migrated (not called when nothing was). */
  onMigrated?: (report: MigrationReport & { path: string; name: string }) => void;
}

/** A file whose format is newer than this upbus knows: it is left as it is. */
export class NewerFileError extends Error {
  /** Creates the error for `path` at `found`, where this upbus knows up to `known`. */
  constructor(readonly path: string, readonly found: number, readonly known: number, name: string) {
    super(
      `Cannot open ${path}: this ${name} has format version ${found}, written by a newer upbus; ` +
        `this version of upbus knows up to ${known}. Run the newer upbus again, or restore the ` +
        `copy made before the upgrade (docs/operations.md, "Roll back"). The file was not changed.`,
    );
    this.name = "NewerFileError";
  }
}

/** The latest version of a schema, checking that its steps count 1, 2, 3, ... */
export function latestVersion(schema: VersionedSchema): number {
  schema.migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `${schema.name}: migration ${
          index + 1
        } says version ${migration.version}: versions must count from 1 without gaps`,
      );
    }
  });
  return schema.migrations.length;
}

/** The user_version of an open database. */
export function userVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number };
  return row.user_version;
}

/**
 * Reads a file's format version without changing it (0 for a file written before versions, or
 * one that does not exist).
 *
 * @param path The database file.
 * @returns Its user_version.
 */
export function fileVersion(path: string): number {
  try {
    Deno.statSync(path);
  } catch {
    return 0;
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return userVersion(db);
  } finally {
    db.close();
  }
}

/**
 * Writes a consistent, owner-only copy of an open database to `copy`. SQLite's `VACUUM INTO` needs
 * ATTACH, which Deno's node:sqlite refuses under permissions, and its backup API is asynchronous;
 * so the file and its write-ahead log are copied while this connection holds the write lock (no
 * other process can commit, and none checkpoints while this connection is open), then the copy's
 * log is folded into it, leaving one file.
 */
function keepCopy(db: DatabaseSync, path: string, copy: string): void {
  for (const stale of [copy, `${copy}-wal`, `${copy}-shm`]) {
    try {
      Deno.removeSync(stale);
    } catch { /* none */ }
  }
  db.exec("BEGIN IMMEDIATE");
  try {
    Deno.copyFileSync(path, copy);
    Deno.chmodSync(copy, 0o600);
    try {
      Deno.copyFileSync(`${path}-wal`, `${copy}-wal`);
      Deno.chmodSync(`${copy}-wal`, 0o600);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  } finally {
    db.exec("ROLLBACK");
  }
  const folded = new DatabaseSync(copy);
  try {
    folded.exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE");
  } finally {
    folded.close();
  }
}

/**
 * Brings an open database to the schema's latest version, one step per transaction.
 *
 * @param db The database, opened read-write.
 * @param path Its file, for messages and the copy kept before a rewrite.
 * @param schema Its formats.
 * @returns What was done.
 * @throws {NewerFileError} If the file is newer than the schema.
 */
export function migrate(db: DatabaseSync, path: string, schema: VersionedSchema): MigrationReport {
  const latest = latestVersion(schema);
  const from = userVersion(db);
  if (from > latest) throw new NewerFileError(path, from, latest, schema.name);
  let backup: string | undefined;
  // A file from before versions (0) holds version 1's tables; a new file holds none.
  const hasData = from > 0 ||
    db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get()!.n !== 0;
  // The copy is the file as it was opened (the format its name says), taken before any step when
  // one of them rewrites data: the version that wrote it can open it again.
  if (hasData && schema.migrations.some((step) => step.version > from && step.rewritesData)) {
    backup = `${path}.v${Math.max(from, 1)}.bak`;
    keepCopy(db, path, backup);
  }
  for (const migration of schema.migrations) {
    if (migration.version <= userVersion(db)) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      // Another process may have taken this step while we waited for the lock.
      const now = userVersion(db);
      if (now > latest) throw new NewerFileError(path, now, latest, schema.name);
      if (now < migration.version) {
        migration.up(db);
        db.exec(`PRAGMA user_version = ${migration.version}`);
      }
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }
  return { from, to: userVersion(db), backup };
}

/**
 * Opens (creating owner-only when missing) a database and brings it to the latest format before
 * returning it. The busy timeout is set before anything else, so several processes may open one
 * file at once.
 *
 * @param path The database file.
 * @param schema Its formats.
 * @param options Busy timeout; who hears about migrations.
 * @returns The open database, at the latest version.
 * @throws {NewerFileError} If the file was written by a newer upbus (it is not changed).
 *
 * @example
 * ```ts
 * import { openVersioned, type VersionedSchema } from "./versioned_db.ts";
 * const dir = Deno.makeTempDirSync();
 * const schema: VersionedSchema = {
 *   name: "example",
 *   migrations: [
 *     { version: 1, description: "a table", up: (db) => db.exec("CREATE TABLE IF NOT EXISTS t (a)") },
 *     { version: 2, description: "a column", up: (db) => db.exec("ALTER TABLE t ADD COLUMN b") },
 *   ],
 * };
 * const db = openVersioned(`${dir}/x.db`, schema);
 * db.exec("INSERT INTO t (a, b) VALUES (1, 2)");
 * db.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function openVersioned(
  path: string,
  schema: VersionedSchema,
  options: OpenVersionedOptions = {},
): DatabaseSync {
  refuseNewer(path, schema);
  createOwnerOnly(path);
  const db = openSqlite(path, options);
  try {
    const report = migrate(db, path, schema);
    if (report.from !== report.to) options.onMigrated?.({ ...report, path, name: schema.name });
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Refuses a file written by a newer upbus, before anything (even the switch to WAL) touches it.
 *
 * @param path The database file (absent is fine).
 * @param schema Its formats.
 * @throws {NewerFileError} If its version is newer than the schema's latest.
 */
export function refuseNewer(path: string, schema: VersionedSchema): void {
  const latest = latestVersion(schema);
  const found = fileVersion(path);
  if (found > latest) throw new NewerFileError(path, found, latest, schema.name);
}

/**
 * Opens a versioned file read-only, for a reader beside the process that migrates it: refused when
 * newer than this upbus knows; an older one is read as it is (its writer migrates it).
 *
 * @param path The database file.
 * @param schema Its formats.
 * @param options How to open it.
 * @returns The read-only connection.
 * @throws {NewerFileError} If the file is newer than this upbus.
 */
export function openVersionedReader(
  path: string,
  schema: VersionedSchema,
  options: Omit<OpenSqliteOptions, "readOnly"> = {},
): DatabaseSync {
  refuseNewer(path, schema);
  return openSqlite(path, { ...options, readOnly: true });
}

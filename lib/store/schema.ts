/**
 * The event store's SQLite schema: one row per event id, in arrival order.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

/** Creates the tables when missing; safe to run on every open. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  type TEXT,
  webhook_id TEXT,
  transaction_id TEXT,
  created_at TEXT,
  invalid_reason TEXT,
  body BLOB NOT NULL,
  signature TEXT NOT NULL,
  received_at TEXT NOT NULL,
  published_at TEXT,
  publish_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_unpublished ON events (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** One step of the event store's shape (the shape of `lib/runtime/versioned_db.ts`'s). */
export interface EventStoreMigration {
  version: number;
  description: string;
  rewritesData?: boolean;
  up(db: DatabaseSync): void;
}

/**
 * The event store's migrations after version 1 (today's {@linkcode SCHEMA}), in order. Each runs
 * in its own transaction; `PRAGMA user_version` says which have run.
 */
export const EVENT_STORE_MIGRATIONS: readonly EventStoreMigration[] = [
  {
    version: 2,
    description:
      "events.origin (NULL for a live delivery, 'recovered' for a body read back from Up's delivery logs), an index by transaction, and the transactions reconciliation published",
    up(db) {
      db.exec(`
        ALTER TABLE events ADD COLUMN origin TEXT;
        CREATE INDEX IF NOT EXISTS events_transaction ON events (transaction_id);
        CREATE TABLE IF NOT EXISTS reconciled (
          transaction_id TEXT NOT NULL,
          status TEXT NOT NULL,
          published_at TEXT NOT NULL,
          PRIMARY KEY (transaction_id, status)
        );
      `);
    },
  },
];

/**
 * Brings an open connection's store to the newest version, each migration in its own
 * transaction (until `lib/runtime/versioned_db.ts` does it for every file).
 *
 * @param db A connection that may write, after {@linkcode SCHEMA} ran.
 * @throws {RangeError} If the file is newer than this program: it is left unchanged.
 */
export function migrateEventStore(db: DatabaseSync): void {
  const { user_version: current } = db.prepare("PRAGMA user_version").get() as {
    user_version: number;
  };
  const newest = EVENT_STORE_MIGRATIONS.at(-1)?.version ?? 1;
  if (current > newest) {
    throw new RangeError(
      `Cannot open the event store: it is version ${current}, newer than this upbus (${newest}); run the newer upbus`,
    );
  }
  for (const migration of EVENT_STORE_MIGRATIONS) {
    if (migration.version <= Math.max(current, 1)) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      migration.up(db);
      db.exec(`PRAGMA user_version = ${migration.version}`);
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }
}

/**
 * The event store's SQLite schema: one row per event id, in arrival order, and its formats
 * ({@linkcode EVENT_STORE_SCHEMA}): `events.db` opens through them (lib/runtime/versioned_db.ts).
 *
 * @module
 */
import type { VersionedSchema } from "../runtime/versioned_db.ts";

/** Version 1: creates the tables when missing; safe to run on every open. */
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

/**
 * The event store's formats, oldest first, for `lib/runtime/versioned_db.ts`: version 1 is the
 * shape before versions ({@linkcode SCHEMA}); each later step runs in its own transaction.
 */
export const EVENT_STORE_SCHEMA: VersionedSchema = {
  name: "event store",
  migrations: [
    {
      version: 1,
      description: "events (one row per event id, in arrival order) and meta",
      up(db) {
        db.exec(SCHEMA);
      },
    },
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
  ],
};

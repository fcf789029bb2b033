/**
 * The event store's SQLite schema: one row per event id, in arrival order, and its formats
 * ({@linkcode EVENT_STORE_SCHEMA}): `events.db` opens through them (lib/runtime/versioned_db.ts).
 *
 * @module
 */
import type { VersionedSchema } from "../runtime/versioned_db.ts";

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

/** `DATA_DIR/events.db`'s formats, oldest first. Append a step for every change of shape. */
export const EVENT_STORE_SCHEMA: VersionedSchema = {
  name: "event store",
  migrations: [
    {
      version: 1,
      description: "events (one row per event id, publish marks) and meta",
      up: (db) => db.exec(SCHEMA),
    },
  ],
};

/**
 * The event store's SQLite schema: one row per event id, in arrival order.
 *
 * @module
 */

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

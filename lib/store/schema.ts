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
    {
      version: 3,
      description:
        "the relay's progress as a high-water mark (relay_progress) and the events published above it out of line (relay_published_ahead), computed from the rows' publish marks; published_at is no longer written",
      rewritesData: true,
      up(db) {
        db.exec(`
          CREATE TABLE IF NOT EXISTS relay_progress (
            name TEXT PRIMARY KEY,
            published_through INTEGER NOT NULL
          );
          CREATE TABLE IF NOT EXISTS relay_published_ahead (seq INTEGER PRIMARY KEY);
        `);
        // Every row up to the first one not yet published is published: that is the mark. Rows
        // above it that were published (a batch partly acknowledged when the relay last ran)
        // are kept apart, so that none is sent again and none unpublished is skipped.
        const { first, last } = db.prepare(
          `SELECT (SELECT min(seq) FROM events WHERE published_at IS NULL) AS first,
             (SELECT coalesce(max(seq), 0) FROM events) AS last`,
        ).get() as { first: number | null; last: number };
        const mark = first === null ? last : first - 1;
        db.prepare(
          `INSERT INTO relay_progress (name, published_through) VALUES ('${RELAY_PROGRESS_NAME}', ?)
           ON CONFLICT (name) DO UPDATE SET published_through = excluded.published_through`,
        ).run(mark);
        db.prepare(
          `INSERT OR IGNORE INTO relay_published_ahead (seq)
           SELECT seq FROM events WHERE seq > ? AND published_at IS NOT NULL`,
        ).run(mark);
        // Nothing reads it any more, and every insert paid for it.
        db.exec("DROP INDEX IF EXISTS events_unpublished");
      },
    },
  ],
};

/** The one row of `relay_progress`: the relay's mark for every topic it publishes to (valid
 * events and dead letters alike, as one sequence). */
export const RELAY_PROGRESS_NAME = "kafka";

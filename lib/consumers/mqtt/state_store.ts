/**
 * @module MQTT consumer state
 * What the `mqtt` consumer keeps in `DATA_DIR/mqtt/state.db` (`state.local.db` in embedded mode,
 * whose offsets are not Kafka's), owner-only SQLite: the event outbox (one row per transaction
 * and event type, so no event is queued twice, marked sent once the broker acknowledged it),
 * how far each partition has been looked at for events (records before that, replayed on
 * start, only rebuild the state), and the accounts it announced to Home Assistant (so a device
 * whose account is gone can be removed). The file's shape is versioned: its migrations are
 * listed here, version 1 being the first.
 */
import type { DatabaseSync } from "node:sqlite";
import { openVersioned, type VersionedSchema } from "../../runtime/versioned_db.ts";

/** The versioned schema of the state file. */
export const MQTT_STATE_SCHEMA: VersionedSchema = {
  name: "mqtt consumer state",
  migrations: [
    {
      version: 1,
      description: "event outbox, per-partition event cursor, announced devices",
      up(db) {
        db.exec(`
          CREATE TABLE IF NOT EXISTS events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            transaction_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            account_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            sent_at INTEGER,
            UNIQUE (transaction_id, event_type)
          ) STRICT;
          CREATE INDEX IF NOT EXISTS events_unsent ON events (seq) WHERE sent_at IS NULL;
          CREATE TABLE IF NOT EXISTS cursors (
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            next_offset TEXT NOT NULL,
            PRIMARY KEY (topic, partition)
          ) STRICT;
          CREATE TABLE IF NOT EXISTS devices (
            account_id TEXT PRIMARY KEY,
            name TEXT NOT NULL
          ) STRICT;
        `);
      },
    },
  ],
};

/** An event waiting to be sent, or sent. */
export interface StoredEvent {
  /** Its place in the outbox, in the order events arrived. */
  seq: number;
  /** The Up transaction it is about. */
  transactionId: string;
  /** What happened to it, such as `TRANSACTION_CREATED`. */
  eventType: string;
  /** The account it belongs to, whose topics it is sent to. */
  accountId: string;
  /** The message to publish, JSON. */
  payload: string;
}

/** The `mqtt` consumer's state file. */
export class MqttStateStore {
  readonly #db: DatabaseSync;
  /** The state file's path. */
  readonly path: string;

  /**
   * Opens (creating, owner-only) the state file.
   *
   * @param path e.g. `DATA_DIR/mqtt/state.db`.
   * @throws {Error} If the file is of a newer version than this program knows.
   */
  constructor(path: string) {
    this.path = path;
    this.#db = openVersioned(path, MQTT_STATE_SCHEMA);
  }

  /**
   * Queues an event unless one of this type was queued for this transaction before.
   *
   * @returns Whether it was queued now.
   */
  queue(event: Omit<StoredEvent, "seq">): boolean {
    const result = this.#db.prepare(
      `INSERT INTO events (transaction_id, event_type, account_id, payload) VALUES (?, ?, ?, ?)
       ON CONFLICT (transaction_id, event_type) DO NOTHING`,
    ).run(event.transactionId, event.eventType, event.accountId, event.payload);
    return Number(result.changes) > 0;
  }

  /** The events not yet acknowledged by the broker, oldest first. */
  unsent(limit = 1000): StoredEvent[] {
    return (this.#db.prepare(
      `SELECT seq, transaction_id, event_type, account_id, payload FROM events
       WHERE sent_at IS NULL ORDER BY seq LIMIT ?`,
    ).all(limit) as Array<Record<string, string | number>>).map((row) => ({
      seq: Number(row.seq),
      transactionId: String(row.transaction_id),
      eventType: String(row.event_type),
      accountId: String(row.account_id),
      payload: String(row.payload),
    }));
  }

  /** Marks an event sent (the broker acknowledged it). */
  markSent(seq: number, at: number): void {
    this.#db.prepare("UPDATE events SET sent_at = ? WHERE seq = ?").run(at, seq);
  }

  /** How many events were queued and how many of them are still unsent. */
  counts(): { queued: number; unsent: number } {
    const row = this.#db.prepare(
      "SELECT count(*) AS queued, count(*) - count(sent_at) AS unsent FROM events",
    ).get() as { queued: number; unsent: number };
    return { queued: Number(row.queued), unsent: Number(row.unsent) };
  }

  /** The next offset to look at for events, by partition, for a topic (none on a first start). */
  cursors(topic: string): Map<number, bigint> {
    const rows = this.#db.prepare(
      "SELECT partition, next_offset FROM cursors WHERE topic = ?",
    ).all(topic) as Array<{ partition: number; next_offset: string }>;
    return new Map(rows.map((row) => [Number(row.partition), BigInt(row.next_offset)]));
  }

  /** Moves a partition's cursor (never backwards). */
  advance(topic: string, partition: number, nextOffset: bigint): void {
    this.#db.prepare(
      `INSERT INTO cursors (topic, partition, next_offset) VALUES (?, ?, ?)
       ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset
       WHERE CAST(excluded.next_offset AS INTEGER) > CAST(cursors.next_offset AS INTEGER)`,
    ).run(topic, partition, nextOffset.toString());
  }

  /** The accounts announced to Home Assistant, by id, with their names. */
  devices(): Map<string, string> {
    const rows = this.#db.prepare("SELECT account_id, name FROM devices").all() as Array<
      { account_id: string; name: string }
    >;
    return new Map(rows.map((row) => [row.account_id, row.name]));
  }

  /** Remembers an announced account. */
  addDevice(accountId: string, name: string): void {
    this.#db.prepare(
      "INSERT INTO devices (account_id, name) VALUES (?, ?) ON CONFLICT (account_id) DO UPDATE SET name = excluded.name",
    ).run(accountId, name);
  }

  /** Forgets an account whose device was removed. */
  removeDevice(accountId: string): void {
    this.#db.prepare("DELETE FROM devices WHERE account_id = ?").run(accountId);
  }

  /** Closes the file. */
  close(): void {
    this.#db.close();
  }
}

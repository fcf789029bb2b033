/**
 * @module Notification outbox
 * The notify consumer's state in `DATA_DIR/notify/state.db` (SQLite, owner-only): what it has
 * seen of each transaction, and every notification a rule rendered, with its delivery state.
 * A record's notifications are written in the same transaction as what was seen, before its
 * offset is committed; the deliverer sends them afterwards and marks them sent. So a restart
 * loses nothing (pending rows are sent on start) and repeats nothing that was marked sent; an
 * orderly stop lets a send in flight finish and be marked, so only a kill -9 between a target's
 * 2xx and the mark can send one notification twice (signed webhooks carry a stable `webhook-id`
 * for receivers that deduplicate).
 */
import type { DatabaseSync } from "node:sqlite";
import { openVersioned, type VersionedSchema } from "../../runtime/versioned_db.ts";
import type { TransactionResource } from "../../up/types.ts";
import type { Notification } from "./notification.ts";

/** What the consumer knew of a transaction before this record. */
export interface SeenTransaction {
  /** Its last status. */
  status: string;
  /** Its last state. */
  transaction: TransactionResource;
}

/** A notification waiting for delivery. */
/** A pending notification without its body: what the delivery loop orders and picks by. */
export interface PendingHead {
  /** Its order in the outbox. */
  seq: number;
  /** The target's name. */
  target: string;
  /** Attempts so far. */
  attempts: number;
  /** Epoch ms before which it is not tried again. */
  nextAt: number;
}

/** A pending notification, whole: what an attempt sends. */
export interface PendingNotification extends PendingHead {
  /** The notification. */
  notification: Notification;
}

/** Counts by delivery state. */
export interface OutboxCounts {
  /** Waiting or being retried. */
  pending: number;
  /** Delivered. */
  sent: number;
  /** Given up after the last attempt (dead letters). */
  dead: number;
}

/** A dead letter: a notification given up after its last attempt. */
export interface DeadLetter {
  /** The notification. */
  notification: Notification;
  /** Attempts made. */
  attempts: number;
  /** The last error (secrets redacted). */
  lastError: string;
}

/** Version 1 of `notify/state.db`: each transaction's last state seen, and the outbox. */
const OUTBOX_V1 = `
      CREATE TABLE IF NOT EXISTS seen (
        transaction_id TEXT PRIMARY KEY, status TEXT NOT NULL, resource TEXT NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        target TEXT NOT NULL,
        notification TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        done_at INTEGER
      ) STRICT;
      CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, next_at);
`;

/** `DATA_DIR/notify/state.db`'s formats, oldest first. Append a step for every change of shape. */
export const OUTBOX_SCHEMA: VersionedSchema = {
  name: "notify state",
  migrations: [
    { version: 1, description: "transactions seen and the outbox", up: (db) => db.exec(OUTBOX_V1) },
  ],
};

/** The notify consumer's state file. */
export class Outbox {
  #db: DatabaseSync;

  /**
   * Opens (creating and migrating) the state file.
   *
   * @param path The state file.
   */
  constructor(path: string) {
    this.#db = openVersioned(path, OUTBOX_SCHEMA, { synchronous: "FULL" });
  }

  /**
   * Records one transaction record and the notifications it causes, in one transaction.
   *
   * @param id The transaction id.
   * @param transaction Its new state, or `null` when deleted.
   * @param decide Given what was seen before, the notifications to add, each with a key that
   *   makes it unique (rule, transaction, event, action): a key already present adds nothing.
   * @returns How many notifications were added.
   */
  record(
    id: string,
    transaction: TransactionResource | null,
    decide: (
      seen: SeenTransaction | undefined,
    ) => Array<{ key: string; notification: Notification }>,
    now: number,
  ): number {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const row = db.prepare("SELECT status, resource FROM seen WHERE transaction_id = ?").get(
        id,
      ) as { status: string; resource: string } | undefined;
      const seen = row && { status: row.status, transaction: JSON.parse(row.resource) };
      let added = 0;
      const insert = db.prepare(
        "INSERT INTO outbox (key, target, notification, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
      );
      for (const { key, notification } of decide(seen)) {
        added += Number(
          insert.run(key, notification.target, JSON.stringify(notification), now).changes,
        );
      }
      if (transaction === null) {
        db.prepare("DELETE FROM seen WHERE transaction_id = ?").run(id);
      } else {
        db.prepare(
          "INSERT INTO seen (transaction_id, status, resource) VALUES (?, ?, ?) ON CONFLICT (transaction_id) DO UPDATE SET status = excluded.status, resource = excluded.resource",
        ).run(id, transaction.attributes.status, JSON.stringify(transaction));
      }
      db.exec("COMMIT");
      return added;
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Pending notifications, oldest first, at most `limit`, without their bodies (each holds a
   * whole transaction): the delivery loop reads them after every send, and loads only the one it
   * sends ({@linkcode Outbox.load}).
   */
  pending(limit = 100): PendingHead[] {
    const rows = this.#db.prepare(
      "SELECT seq, json_extract(notification, '$.target') AS target, attempts, next_at FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?",
    ).all(limit) as Array<{ seq: number; target: string; attempts: number; next_at: number }>;
    return rows.map((row) => ({
      seq: row.seq,
      target: row.target,
      attempts: row.attempts,
      nextAt: row.next_at,
    }));
  }

  /**
   * A pending notification with its body.
   *
   * @param head What {@linkcode Outbox.pending} returned for it.
   * @returns It, whole.
   * @throws {Error} If the row is gone (a rules file's outbox is never pruned while it runs).
   */
  load(head: PendingHead): PendingNotification {
    const row = this.#db.prepare("SELECT notification FROM outbox WHERE seq = ?").get(head.seq) as
      | { notification: string }
      | undefined;
    if (row === undefined) {
      throw new Error(`Cannot load notification ${head.seq}: not in the outbox`);
    }
    return { ...head, notification: JSON.parse(row.notification) };
  }

  /**
   * Takes a pending notification for one attempt, so that two processes of `notify` on one
   * data directory never send it both: the row's next attempt moves to `until`, and only the
   * process whose update found the `nextAt` it read wins. A process that dies while sending
   * leaves the row due again at `until` (at least once after a crash, never twice otherwise).
   *
   * @returns Whether this process may send it now.
   */
  claim(seq: number, nextAt: number, until: number): boolean {
    const result = this.#db.prepare(
      "UPDATE outbox SET next_at = ? WHERE seq = ? AND state = 'pending' AND next_at = ?",
    ).run(until, seq, nextAt);
    return Number(result.changes) === 1;
  }

  /** Marks a notification delivered. */
  markSent(seq: number, attempts: number, now: number): void {
    this.#db.prepare(
      "UPDATE outbox SET state = 'sent', attempts = ?, done_at = ?, last_error = NULL WHERE seq = ?",
    ).run(attempts, now, seq);
  }

  /** Schedules another attempt. */
  markRetry(seq: number, attempts: number, nextAt: number, error: string): void {
    this.#db.prepare(
      "UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? WHERE seq = ?",
    ).run(attempts, nextAt, error, seq);
  }

  /** Gives a notification up: it becomes a dead letter. */
  markDead(seq: number, attempts: number, error: string, now: number): void {
    this.#db.prepare(
      "UPDATE outbox SET state = 'dead', attempts = ?, last_error = ?, done_at = ? WHERE seq = ?",
    ).run(attempts, error, now, seq);
  }

  /** Counts by state. */
  counts(): OutboxCounts {
    const counts: OutboxCounts = { pending: 0, sent: 0, dead: 0 };
    const rows = this.#db.prepare("SELECT state, count(*) AS n FROM outbox GROUP BY state")
      .all() as Array<{ state: keyof OutboxCounts; n: number }>;
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  /** The dead letters, oldest first. */
  deadLetters(): DeadLetter[] {
    const rows = this.#db.prepare(
      "SELECT notification, attempts, last_error FROM outbox WHERE state = 'dead' ORDER BY seq",
    ).all() as Array<{ notification: string; attempts: number; last_error: string }>;
    return rows.map((row) => ({
      notification: JSON.parse(row.notification),
      attempts: row.attempts,
      lastError: row.last_error,
    }));
  }

  /** Closes the file. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

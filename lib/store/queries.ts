/**
 * The event store's SQL, shared by every connection that reads or marks events: the writer
 * worker, the service's reader and the relay's worker.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { RELAY_PROGRESS_NAME } from "./schema.ts";
import type { StoredEvent } from "./types.ts";

/** Counts for `/metrics`, `/readyz` and the relay's logs. */
export interface StoreCounts {
  /** Rows in the store. */
  total: number;
  /** Rows not yet acknowledged by Kafka. */
  unpublished: number;
}

interface EventRow {
  seq: number;
  event_id: string;
  type: string | null;
  webhook_id: string | null;
  transaction_id: string | null;
  created_at: string | null;
  invalid_reason: string | null;
  body: Uint8Array;
  signature: string;
  received_at: string;
  origin: string | null;
  published_at?: string | null;
}

const COLUMNS = `seq, event_id, type, webhook_id, transaction_id, created_at, invalid_reason, body,
  signature, received_at, origin`;

function fromRow(row: EventRow): StoredEvent {
  const event: StoredEvent = {
    seq: row.seq,
    eventId: row.event_id,
    body: row.body,
    signature: row.signature,
    receivedAt: row.received_at,
  };
  if (row.type !== null) event.type = row.type;
  if (row.webhook_id !== null) event.webhookId = row.webhook_id;
  if (row.transaction_id !== null) event.transactionId = row.transaction_id;
  if (row.created_at !== null) event.createdAt = row.created_at;
  if (row.invalid_reason !== null) event.invalidReason = row.invalid_reason;
  if (row.origin === "recovered") event.origin = row.origin;
  return event;
}

/** The relay's mark: every event up to it is published. */
const MARK = `(SELECT published_through FROM relay_progress WHERE name = '${RELAY_PROGRESS_NAME}')`;

/** Whether the event at `seq` is published: at or below the mark, or published out of line. */
const IS_PUBLISHED = (seq: string) =>
  `(${seq} <= coalesce(${MARK}, 0) OR ${seq} IN (SELECT seq FROM relay_published_ahead))`;

/**
 * Reads events not yet published, oldest first: those above the relay's mark that were not
 * published out of line.
 *
 * @param db An open connection (the store at version 3 or later).
 * @param options `limit`, and `afterSeq` to skip events up to a position.
 * @returns The events, in arrival order.
 */
export function selectUnpublished(
  db: DatabaseSync,
  options: { limit: number; afterSeq?: number },
): StoredEvent[] {
  const rows = db.prepare(
    `SELECT ${COLUMNS} FROM events
     WHERE seq > max(coalesce(${MARK}, 0), ?)
       AND seq NOT IN (SELECT seq FROM relay_published_ahead)
     ORDER BY seq LIMIT ?`,
  ).all(options.afterSeq ?? 0, options.limit) as unknown as EventRow[];
  return rows.map(fromRow);
}

/**
 * Reads one event by its id.
 *
 * @param db An open connection (the store at version 3 or later).
 * @param eventId Up's event id, or a dead letter's `sha256:` key.
 * @returns The event, whether it is published, and its publish time when an upbus before the
 *   relay's mark (events.db version 3) recorded one; or `undefined`.
 */
export function selectEvent(
  db: DatabaseSync,
  eventId: string,
): (StoredEvent & { published: boolean; publishedAt?: string }) | undefined {
  const row = db.prepare(
    `SELECT ${COLUMNS}, published_at, ${IS_PUBLISHED("seq")} AS published
     FROM events WHERE event_id = ?`,
  ).get(eventId) as unknown as (EventRow & { published: number }) | undefined;
  if (row === undefined) return undefined;
  const event = { ...fromRow(row), published: row.published === 1 };
  return row.published_at ? { ...event, publishedAt: row.published_at } : event;
}

/**
 * Counts stored and unpublished events without a table scan: rows are never deleted and each
 * new one takes the next position, so the total is the last position, and the unpublished are
 * the positions above the relay's mark less those published out of line.
 *
 * @param db An open connection (the store at version 3 or later).
 * @returns The counts.
 */
export function countEvents(db: DatabaseSync): StoreCounts {
  const row = db.prepare(
    `SELECT coalesce(max(seq), 0) AS total, coalesce(${MARK}, 0) AS mark,
       (SELECT count(*) FROM relay_published_ahead
        WHERE seq > coalesce(${MARK}, 0)) AS ahead FROM events`,
  ).get() as { total: number; mark: number; ahead: number };
  return { total: row.total, unpublished: Math.max(0, row.total - row.mark - row.ahead) };
}

/**
 * Counts stored and unpublished events in a store of any version, read as it is (`data status`
 * beside a service that has not migrated it yet): before version 3 from each row's mark.
 *
 * @param db An open connection.
 * @returns The counts, and the last position.
 */
export function countEventsAnyVersion(db: DatabaseSync): StoreCounts {
  const marked = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'relay_progress'",
  ).get() !== undefined;
  if (marked) return countEvents(db);
  const row = db.prepare(
    `SELECT coalesce(max(seq), 0) AS total,
       (SELECT count(*) FROM events WHERE published_at IS NULL) AS unpublished FROM events`,
  ).get() as { total: number; unpublished: number };
  return { total: row.total, unpublished: row.unpublished };
}

/**
 * Runs `work` in one `BEGIN IMMEDIATE` transaction; rolls back if it throws.
 *
 * @param db A connection that may write.
 * @param work The statements.
 * @returns What `work` returns.
 */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/**
 * Records that Kafka acknowledged these events, in one transaction: the relay's mark moves up
 * through every event published in a row from it, and those published above the first one still
 * waiting are kept apart (published out of line) until the mark reaches them. No event row is
 * written: only the mark's one row, and the out-of-line set, which stays small.
 *
 * @param db A connection that may write (the store at version 3 or later).
 * @param seqs The positions acknowledged, in any order.
 * @returns The mark after the update.
 */
export function markPublished(db: DatabaseSync, seqs: readonly number[]): number {
  return inTransaction(db, () => {
    const mark = (db.prepare(`SELECT coalesce(${MARK}, 0) AS mark`).get() as { mark: number })
      .mark;
    const ahead = (db.prepare("SELECT seq FROM relay_published_ahead WHERE seq > ?").all(
      mark,
    ) as { seq: number }[]).map((row) => row.seq);
    const known = new Set(ahead);
    const fresh = seqs.filter((seq) => seq > mark && !known.has(seq));
    const published = [...new Set([...ahead, ...fresh])].sort((a, b) => a - b);
    // Walk up from the mark: the next stored row is published, so is every consecutive position
    // after it (no row lies between two consecutive positions); then look for the next row.
    const next = db.prepare("SELECT min(seq) AS seq FROM events WHERE seq > ?");
    let through = mark;
    let index = 0;
    while (index < published.length) {
      const following = (next.get(through) as { seq: number | null }).seq;
      if (following !== published[index]) break;
      through = published[index++];
      while (index < published.length && published[index] === through + 1) {
        through = published[index++];
      }
    }
    if (through !== mark) {
      db.prepare(
        `INSERT INTO relay_progress (name, published_through) VALUES ('${RELAY_PROGRESS_NAME}', ?)
         ON CONFLICT (name) DO UPDATE SET published_through = excluded.published_through`,
      ).run(through);
      if (ahead.length > 0) {
        db.prepare("DELETE FROM relay_published_ahead WHERE seq <= ?").run(through);
      }
    }
    const insert = db.prepare("INSERT OR IGNORE INTO relay_published_ahead (seq) VALUES (?)");
    for (const seq of fresh) if (seq > through) insert.run(seq);
    return through;
  });
}

/**
 * Whether each stored event is published, by event id, in arrival order (checks and tests that
 * look at the whole store).
 *
 * @param db An open connection (the store at version 3 or later).
 * @returns Per event id, `true` once Kafka acknowledged it.
 */
export function selectPublishState(db: DatabaseSync): Map<string, boolean> {
  const rows = db.prepare(
    `SELECT event_id, ${IS_PUBLISHED("seq")} AS published FROM events ORDER BY seq`,
  ).all() as { event_id: string; published: number }[];
  return new Map(rows.map((row) => [row.event_id, row.published === 1]));
}

/**
 * The relay's mark and the events published above it out of line.
 *
 * @param db An open connection (the store at version 3 or later).
 * @returns `through`: every event up to it is published; `ahead`: those above it that are.
 */
export function selectRelayProgress(db: DatabaseSync): { through: number; ahead: number[] } {
  const { through } = db.prepare(`SELECT coalesce(${MARK}, 0) AS through`).get() as {
    through: number;
  };
  const ahead = (db.prepare("SELECT seq FROM relay_published_ahead WHERE seq > ? ORDER BY seq")
    .all(through) as { seq: number }[]).map((row) => row.seq);
  return { through, ahead };
}

/**
 * Counts one more failed publish attempt for each event, in one transaction.
 *
 * @param db A connection that may write.
 * @param seqs Their positions.
 */
export function updateFailed(db: DatabaseSync, seqs: number[]): void {
  inTransaction(db, () => {
    const statement = db.prepare(
      "UPDATE events SET publish_attempts = publish_attempts + 1 WHERE seq = ?",
    );
    for (const seq of seqs) statement.run(seq);
  });
}

/**
 * Which of these event ids the store holds.
 *
 * @param db An open connection.
 * @param eventIds Up's event ids.
 * @returns The ids found.
 */
export function selectKnownEventIds(db: DatabaseSync, eventIds: readonly string[]): Set<string> {
  const known = new Set<string>();
  const statement = db.prepare("SELECT 1 FROM events WHERE event_id = ?");
  for (const id of eventIds) if (statement.get(id) !== undefined) known.add(id);
  return known;
}

/** A stored event's part in a transaction's story, for reconciliation. */
export interface TransactionEventRow {
  /** The event's type, such as `TRANSACTION_SETTLED`. */
  type: string;
  /** When upbus stored it (ISO 8601). */
  receivedAt: string;
}

/**
 * The events the store holds about each of these transactions.
 *
 * @param db An open connection (the store at version 2 or later).
 * @param transactionIds Up's transaction ids.
 * @returns Per transaction id, its events (none: absent).
 */
export function selectTransactionEvents(
  db: DatabaseSync,
  transactionIds: readonly string[],
): Map<string, TransactionEventRow[]> {
  const found = new Map<string, TransactionEventRow[]>();
  const statement = db.prepare(
    "SELECT type, received_at FROM events WHERE transaction_id = ? AND type IS NOT NULL",
  );
  for (const id of transactionIds) {
    const rows = statement.all(id) as { type: string; received_at: string }[];
    if (rows.length > 0) {
      found.set(id, rows.map((row) => ({ type: row.type, receivedAt: row.received_at })));
    }
  }
  return found;
}

/**
 * Reads stored events in arrival order, published or not, a page at a time (replay).
 *
 * @param db An open connection.
 * @param options `afterSeq` (default 0) and `limit`.
 * @returns The events after that position.
 */
export function selectEvents(
  db: DatabaseSync,
  options: { afterSeq?: number; limit: number },
): StoredEvent[] {
  const rows = db.prepare(`SELECT ${COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`)
    .all(options.afterSeq ?? 0, options.limit) as unknown as EventRow[];
  return rows.map(fromRow);
}

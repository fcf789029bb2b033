/**
 * The event store's SQL, shared by every connection that reads or marks events: the writer
 * worker, the service's reader and the relay's worker.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
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

/**
 * Reads events not yet published, oldest first.
 *
 * @param db An open connection.
 * @param options `limit`, and `afterSeq` to skip events up to a position.
 * @returns The events, in arrival order.
 */
export function selectUnpublished(
  db: DatabaseSync,
  options: { limit: number; afterSeq?: number },
): StoredEvent[] {
  const rows = db.prepare(
    `SELECT ${COLUMNS} FROM events WHERE published_at IS NULL AND seq > ? ORDER BY seq LIMIT ?`,
  ).all(options.afterSeq ?? 0, options.limit) as unknown as EventRow[];
  return rows.map(fromRow);
}

/**
 * Reads one event by its id.
 *
 * @param db An open connection.
 * @param eventId Up's event id, or a dead letter's `sha256:` key.
 * @returns The event with its publish time, or `undefined`.
 */
export function selectEvent(
  db: DatabaseSync,
  eventId: string,
): (StoredEvent & { publishedAt?: string }) | undefined {
  const row = db.prepare(`SELECT ${COLUMNS}, published_at FROM events WHERE event_id = ?`)
    .get(eventId) as unknown as EventRow | undefined;
  if (row === undefined) return undefined;
  const event = fromRow(row);
  return row.published_at ? { ...event, publishedAt: row.published_at } : event;
}

/**
 * Counts stored and unpublished events. Rows are never deleted, so the total is the last
 * position (no table scan); the unpublished count walks a partial index of the backlog only.
 *
 * @param db An open connection.
 * @returns The counts.
 */
export function countEvents(db: DatabaseSync): StoreCounts {
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
 * Marks events published (acknowledged by Kafka), in one transaction.
 *
 * @param db A connection that may write.
 * @param seqs Their positions.
 * @param at The acknowledgement time (ISO 8601).
 */
export function updatePublished(db: DatabaseSync, seqs: number[], at: string): void {
  inTransaction(db, () => {
    const statement = db.prepare("UPDATE events SET published_at = ? WHERE seq = ?");
    for (const seq of seqs) statement.run(at, seq);
  });
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

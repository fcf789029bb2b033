/**
 * @module Replay
 * Stored events published again, for a consumer that must rebuild: the events of a span (by Up's
 * `createdAt`), optionally of one type, each as the record the relay published (same key, value,
 * `ce_id` and headers) plus `upbus_replayed` (when it was replayed), in the store's order. Dead
 * letters are not replayed (they are not events).
 */
import { DatabaseSync } from "node:sqlite";
import { type EventRecord, eventRecord } from "../bus/record.ts";
import { selectEvents } from "../store/queries.ts";
import type { StoredEvent } from "../store/types.ts";

/** The header that marks a replayed record: the instant it was replayed (ISO 8601). */
export const REPLAYED_HEADER = "upbus_replayed";

/** Which stored events to replay. */
export interface ReplayFilter {
  /** Events Up created at or after this instant. Default the first. */
  since?: Date;
  /** Events Up created before this instant. Default the last. */
  until?: Date;
  /** Only this Up event type (`TRANSACTION_CREATED`). Default every type. */
  type?: string;
}

/**
 * Reads the events to replay from the store, read-only, in the store's order.
 *
 * @param path The event store, `DATA_DIR/events.db`.
 * @param filter Span and type.
 * @returns The events.
 * @throws {Error} If the store cannot be opened.
 *
 * @example
 * ```ts ignore
 * import { selectReplay } from "./replay.ts";
 * const events = selectReplay("./data/events.db", { type: "TRANSACTION_SETTLED" });
 * ```
 */
export function selectReplay(path: string, filter: ReplayFilter): StoredEvent[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const since = filter.since?.getTime() ?? -Infinity;
    const until = filter.until?.getTime() ?? Infinity;
    const chosen: StoredEvent[] = [];
    for (let after = 0;;) {
      const page = selectEvents(db, { afterSeq: after, limit: 1000 });
      if (page.length === 0) return chosen;
      after = page[page.length - 1].seq;
      for (const event of page) {
        if (event.type === undefined || event.createdAt === undefined) continue;
        if (filter.type !== undefined && event.type !== filter.type) continue;
        const at = Date.parse(event.createdAt);
        if (at >= since && at < until) chosen.push(event);
      }
    }
  } finally {
    db.close();
  }
}

/**
 * The record of a replayed event: the relay's, plus the replay marker.
 *
 * @param event A stored event.
 * @param at When it is replayed.
 * @returns Key, value and headers.
 *
 * @example
 * ```ts
 * import { replayRecord } from "./replay.ts";
 * const record = replayRecord({
 *   seq: 1, eventId: "ev-1", type: "PING", webhookId: "wh", createdAt: "2026-12-07T10:00:00+11:00",
 *   body: new Uint8Array(), signature: "sig", receivedAt: "2026-12-06T23:00:00Z",
 * }, new Date("2026-12-07T00:00:00Z"));
 * if (record.headers.upbus_replayed !== "2026-12-07T00:00:00.000Z" || record.headers.ce_id !== "ev-1") throw new Error();
 * ```
 */
export function replayRecord(event: StoredEvent, at: Date): EventRecord {
  const record = eventRecord(event);
  return { ...record, headers: { ...record.headers, [REPLAYED_HEADER]: at.toISOString() } };
}

/**
 * @module Dead letters
 * The authentic bodies intake kept as dead letters (signed by Up, but not a webhook event this
 * upbus could read), listed from the store, inspected, and re-driven: read again with today's
 * parser and, when they now read as events, committed as those events (with the signature they
 * came with), so the relay and the enricher take them like any delivery. A plan comes first.
 */
import { DatabaseSync } from "node:sqlite";
import type { EventStore } from "../store/event_store.ts";
import type { AppendOutcome } from "../store/types.ts";
import { InvalidEventError, parseEvent, type WebhookEvent } from "./event.ts";

/** One dead letter. */
export interface DeadLetter {
  /** Its store key: `sha256:` and the digest of the body. */
  key: string;
  /** Why intake could not read it. */
  reason: string;
  /** When it arrived (ISO 8601). */
  receivedAt: string;
  /** The exact body Up signed. */
  body: Uint8Array;
  /** Up's `X-Up-Authenticity-Signature` header, as it came. */
  signature: string;
}

/**
 * Lists the store's dead letters, oldest first.
 *
 * @param path `DATA_DIR/events.db`.
 * @returns The dead letters.
 */
export function listDeadLetters(path: string): DeadLetter[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare(
      `SELECT event_id, invalid_reason, received_at, body, signature FROM events
       WHERE invalid_reason IS NOT NULL ORDER BY seq`,
    ).all() as {
      event_id: string;
      invalid_reason: string;
      received_at: string;
      body: Uint8Array;
      signature: string;
    }[];
    return rows.map((row) => ({
      key: row.event_id,
      reason: row.invalid_reason,
      receivedAt: row.received_at,
      body: new Uint8Array(row.body),
      signature: row.signature,
    }));
  } finally {
    db.close();
  }
}

/** What re-driving one dead letter would do. */
export type RedrivePlan =
  | { letter: DeadLetter; event: WebhookEvent }
  | { letter: DeadLetter; stillInvalid: string };

/**
 * Reads each dead letter again with today's parser.
 *
 * @param letters The dead letters to re-drive.
 * @returns Per letter: the event it now reads as, or why it still does not.
 */
export function planRedrive(letters: readonly DeadLetter[]): RedrivePlan[] {
  return letters.map((letter) => {
    try {
      return { letter, event: parseEvent(letter.body) };
    } catch (error) {
      if (!(error instanceof InvalidEventError)) throw error;
      return { letter, stillInvalid: error.message };
    }
  });
}

/**
 * Commits each dead letter that now reads as an event, as that event (the dead letter stays).
 *
 * @param plans From {@linkcode planRedrive}.
 * @param store The event store.
 * @returns Per event committed: its id and whether it was new.
 */
export async function redrive(
  plans: readonly RedrivePlan[],
  store: Pick<EventStore, "append">,
): Promise<{ eventId: string; outcome: AppendOutcome }[]> {
  const done = [];
  for (const plan of plans) {
    if (!("event" in plan)) continue;
    const { event, letter } = plan;
    const outcome = await store.append({
      eventId: event.id,
      type: event.type,
      webhookId: event.webhookId,
      ...(event.transactionId ? { transactionId: event.transactionId } : {}),
      createdAt: event.createdAt,
      body: letter.body,
      signature: letter.signature,
      receivedAt: letter.receivedAt,
    });
    done.push({ eventId: event.id, outcome });
  }
  return done;
}

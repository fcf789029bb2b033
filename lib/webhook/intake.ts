/**
 * Intake: what happens to a webhook body between the socket and the 200. Verify the signature on
 * the exact bytes, read the event (or file it as a dead letter), and commit it to the store.
 *
 * @module
 */
import { InvalidEventError, parseEvent } from "./event.ts";
import type { Logger } from "../runtime/log.ts";
import type { ServiceMetrics } from "../runtime/metrics.ts";
import type { SecretRing } from "./secret_ring.ts";
import { parseSignatureHeader, SignatureError, verifySignature } from "./signature.ts";
import type { EventStore } from "../store/event_store.ts";
import type { AppendOutcome, NewEvent } from "../store/types.ts";

/** What became of an authentic body. */
export interface IntakeResult {
  /** `stored`, or `duplicate` for an event id already stored (an Up retry). */
  outcome: AppendOutcome;
  /** The event id, or a dead letter's `sha256:` key. */
  eventId: string;
  /** The event type; absent for a dead letter. */
  type?: string;
  /** Set when the body is not a valid event; it goes to the dead-letter topic. */
  deadLetter?: string;
}

/** Options for {@linkcode createIntake}. */
export interface IntakeOptions {
  /** The webhook secrets signatures are checked against. */
  ring: SecretRing;
  /** Where accepted events are committed. */
  store: EventStore;
  /** Counts accepted, duplicate, dead-letter and refused deliveries. */
  metrics: ServiceMetrics;
  /** Where the intake logs. */
  logger: Logger;
  /** The clock; default `() => new Date()`. */
  now?: () => Date;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Creates the intake.
 *
 * @param options Secrets, store, metrics, logger and clock.
 * @returns `accept(raw, signature)`, which resolves once the event is durable.
 */
export function createIntake(options: IntakeOptions): {
  accept(raw: Uint8Array<ArrayBuffer>, signature: string | null): Promise<IntakeResult>;
} {
  const { ring, store, metrics, logger } = options;
  const now = options.now ?? (() => new Date());

  /** Verifies; on a mismatch, looks at the state file again in case a webhook just appeared. */
  async function verifyWithRing(raw: Uint8Array<ArrayBuffer>, signature: string | null) {
    const keys = await ring.keys();
    try {
      await verifySignature(raw, signature, { keys });
    } catch (error) {
      if (!(error instanceof SignatureError) || error.reason !== "mismatch") throw error;
      const fresh = await ring.keys({ fresh: true });
      if (fresh.length === keys.length && fresh.every((key, i) => key === keys[i])) throw error;
      await verifySignature(raw, signature, { keys: fresh });
    }
  }

  return {
    async accept(raw, signature) {
      try {
        await verifyWithRing(raw, signature);
      } catch (error) {
        if (error instanceof SignatureError) metrics.rejected.inc({ reason: error.reason });
        throw error;
      }
      const base = {
        body: raw,
        signature: parseSignatureHeader(signature),
        receivedAt: now().toISOString(),
      };
      let event: NewEvent;
      let deadLetter: string | undefined;
      try {
        const parsed = parseEvent(raw);
        event = {
          ...base,
          eventId: parsed.id,
          type: parsed.type,
          webhookId: parsed.webhookId,
          createdAt: parsed.createdAt,
          transactionId: parsed.transactionId,
        };
      } catch (error) {
        if (!(error instanceof InvalidEventError)) throw error;
        deadLetter = error.message;
        event = {
          ...base,
          eventId: `sha256:${await sha256Hex(raw)}`,
          invalidReason: error.message,
        };
      }
      const outcome = await store.append(event);
      if (outcome === "duplicate") metrics.duplicates.inc();
      else {
        metrics.stored.inc();
        if (deadLetter !== undefined) metrics.deadLetters.inc();
      }
      const fields = {
        eventId: event.eventId,
        type: event.type,
        transactionId: event.transactionId,
        outcome,
      };
      if (deadLetter !== undefined) {
        logger.warn("authentic body is not a valid event; kept as a dead letter", {
          ...fields,
          reason: deadLetter,
        });
      } else logger.info("webhook event accepted", fields);
      return {
        outcome,
        eventId: event.eventId,
        ...(event.type ? { type: event.type } : {}),
        ...(deadLetter ? { deadLetter } : {}),
      };
    },
  };
}

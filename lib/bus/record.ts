/**
 * The Kafka record of a stored event: key, value and CloudEvents binary-mode headers.
 *
 * @module
 */
import type { StoredEvent } from "../store/types.ts";
import { isRfc3339DateTime } from "../up/date_time.ts";

/** CloudEvents `ce_source` prefix; the webhook id follows it. */
export const CE_SOURCE_PREFIX = "https://api.up.com.au/api/v1/webhooks/";

/** The header carrying Up's original signature, so consumers can verify authenticity again. */
export const SIGNATURE_RECORD_HEADER = "up_signature";

/**
 * The CloudEvents extension attribute (binary mode: a `ce_` header) saying how an event reached
 * upbus when it was not a live delivery: `recovered` (read back from Up's delivery logs).
 * Absent for a live delivery.
 */
export const ORIGIN_HEADER = "ce_upbusorigin";

/** A record ready for `producer.send`. */
export interface EventRecord {
  /** The event id, so Up's retries of one event land on one partition. */
  key: string;
  /** The exact body Up signed, byte for byte. */
  value: Uint8Array;
  /** The CloudEvents `ce_*` headers and Up's signature, name to value. */
  headers: Record<string, string>;
}

/**
 * Maps an Up event type to a CloudEvents type: `TRANSACTION_CREATED` becomes
 * `au.com.up.webhook.transaction.created`.
 *
 * @param eventType Up's `eventType`.
 * @returns The reverse-DNS CloudEvents type.
 */
export function cloudEventType(eventType: string): string {
  return `au.com.up.webhook.${eventType.toLowerCase().replaceAll("_", ".")}`;
}

/**
 * Builds the Kafka record of a stored event. The value is the body exactly as Up signed it.
 * Key: the transaction id, so each transaction's events stay in one partition in order; the
 * event id when there is none (PING); the store's dedupe key for dead letters. Every record
 * with `ce_` headers is a valid CloudEvent whatever Up sent: the webhook id is percent-encoded
 * into `ce_source` (a URI-reference), and `ce_time` (optional in CloudEvents) is left out when
 * the stored time is not RFC 3339 (only an event stored before intake refused such bodies).
 *
 * @param event The stored event.
 * @returns Key, value and headers.
 */
export function eventRecord(event: StoredEvent): EventRecord {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    // A recovered body came with no signature: it has no `up_signature` header.
    ...(event.signature === "" ? {} : { [SIGNATURE_RECORD_HEADER]: event.signature }),
    upbus_received_at: event.receivedAt,
  };
  if (event.origin !== undefined) headers[ORIGIN_HEADER] = event.origin;
  if (event.type !== undefined) {
    Object.assign(headers, {
      ce_specversion: "1.0",
      ce_id: event.eventId,
      ce_type: cloudEventType(event.type),
      ce_source: `${CE_SOURCE_PREFIX}${encodeURIComponent(event.webhookId ?? "")}`,
    });
    if (event.createdAt !== undefined && isRfc3339DateTime(event.createdAt)) {
      headers.ce_time = event.createdAt;
    }
    if (event.transactionId !== undefined) headers.ce_subject = event.transactionId;
  } else {
    headers.upbus_dead_letter_reason = event.invalidReason ?? "unknown";
  }
  return { key: event.transactionId ?? event.eventId, value: event.body, headers };
}

/**
 * Up webhook events: reading the few fields upbus needs from an authentic body, without
 * changing the body, and deciding which bodies are not events at all (the dead-letter case).
 *
 * @module
 */
import { isRfc3339DateTime } from "../up/date_time.ts";

/** The event types Up documents. Unknown future types are accepted as well. */
export const KNOWN_EVENT_TYPES = [
  "PING",
  "TRANSACTION_CREATED",
  "TRANSACTION_SETTLED",
  "TRANSACTION_DELETED",
] as const;

/** What upbus reads from a webhook event; the body itself is kept byte for byte. */
export interface WebhookEvent {
  /** The event id, stable across Up's delivery retries. */
  id: string;
  /** `PING`, `TRANSACTION_CREATED`, ... or a type Up adds later. */
  type: string;
  /** When Up generated the event: an RFC 3339 date-time with its UTC offset, as sent. */
  createdAt: string;
  /** The webhook that delivered it. */
  webhookId: string;
  /** The transaction it is about; absent for PING and whatever else has none. */
  transactionId?: string;
}

/** An authentic body that is not a valid Up webhook event. It goes to the dead-letter topic. */
export class InvalidEventError extends Error {
  /** Makes the error; `message` says what is wrong with the event. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidEventError";
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

function requiredString(root: unknown, path: string[]): string {
  const value = field(root, path);
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidEventError(
      `Cannot read webhook event: "${path.join(".")}" is ${
        value === undefined ? "missing" : "not a non-empty string"
      }`,
    );
  }
  return value;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads an Up webhook event from its raw body.
 *
 * @param raw The body bytes, already verified as authentic.
 * @returns The fields upbus routes by.
 * @throws {InvalidEventError} If the body is not UTF-8 JSON of a webhook event with an id, an
 * event type, a creation time (RFC 3339, with its UTC offset, as Up's spec says) and a webhook.
 *
 * @example
 * ```ts
 * import { parseEvent } from "./event.ts";
 * const body = '{"data":{"type":"webhook-events","id":"e1","attributes":{"eventType":"PING",' +
 *   '"createdAt":"2024-08-06T12:19:06+10:00"},"relationships":{"webhook":{"data":' +
 *   '{"type":"webhooks","id":"w1"}}}}}';
 * const event = parseEvent(new TextEncoder().encode(body));
 * if (event.type !== "PING" || event.transactionId !== undefined) throw new Error("unexpected");
 * ```
 */
export function parseEvent(raw: Uint8Array): WebhookEvent {
  let document: unknown;
  try {
    document = JSON.parse(decoder.decode(raw));
  } catch (error) {
    throw new InvalidEventError(
      `Cannot read webhook event: the body is not UTF-8 JSON (${(error as Error).message})`,
    );
  }
  const type = requiredString(document, ["data", "type"]);
  if (type !== "webhook-events") {
    throw new InvalidEventError(
      `Cannot read webhook event: "data.type" is "${type}", expected "webhook-events"`,
    );
  }
  const transaction = field(document, ["data", "relationships", "transaction", "data", "id"]);
  const id = requiredString(document, ["data", "id"]);
  const eventType = requiredString(document, ["data", "attributes", "eventType"]);
  const createdAt = requiredString(document, ["data", "attributes", "createdAt"]);
  if (!isRfc3339DateTime(createdAt)) {
    // Up's contract: createdAt is a date-time (RFC 3339). Without its offset the instant is
    // unknown, and no record may claim it as a CloudEvents time.
    throw new InvalidEventError(
      `Cannot read webhook event: "data.attributes.createdAt" is "${
        createdAt.slice(0, 40)
      }", not an RFC 3339 date-time with a UTC offset`,
    );
  }
  return {
    id,
    type: eventType,
    createdAt,
    webhookId: requiredString(document, ["data", "relationships", "webhook", "data", "id"]),
    ...(typeof transaction === "string" && transaction.length > 0
      ? { transactionId: transaction }
      : {}),
  };
}

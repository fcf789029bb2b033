/**
 * The shapes the event store takes and gives.
 *
 * @module
 */

/** An authentic webhook body, as the store keeps it. */
export interface NewEvent {
  /** Up's event id; for a dead letter, `sha256:` and the hex digest of its body. */
  eventId: string;
  /** Up's `eventType`; absent for a dead letter. */
  type?: string;
  /** The webhook that delivered it; absent for a dead letter. */
  webhookId?: string;
  /** The transaction it is about, when it names one. */
  transactionId?: string;
  /** Up's `createdAt`; absent for a dead letter. */
  createdAt?: string;
  /** Why the body is not a valid event; present only for a dead letter. */
  invalidReason?: string;
  /** The body, byte for byte as Up signed it. */
  body: Uint8Array;
  /** The `X-Up-Authenticity-Signature` it came with. */
  signature: string;
  /** When upbus received it (ISO 8601, UTC). */
  receivedAt: string;
  /** How it came: absent for a live delivery; `recovered` for a body read back from Up's
   * delivery logs over the token-authenticated API (its `signature` is then empty). */
  origin?: EventOrigin;
}

/** How an event reached the store other than by a live delivery. */
export type EventOrigin = "recovered";

/** A stored event, with its place in the store's order. */
export interface StoredEvent extends NewEvent {
  /** Position in arrival order; the relay publishes in this order. */
  seq: number;
}

/** What became of an append: a new row, or the id was already there (an Up retry). */
export type AppendOutcome = "stored" | "duplicate";

/** The store cannot commit (disk full, read-only, closed): the request must not get a 200. */
export class StoreUnavailableError extends Error {
  /** Makes the error; `message` names what failed, `options.cause` the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

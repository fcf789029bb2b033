/**
 * @module Notification
 * One notification as the rules rendered it: what every target turns into its own request.
 */
import type { TransactionResource } from "../../up/types.ts";

/** A rendered notification, stored in the outbox before it is sent. */
export interface Notification {
  /** Its id: stable across retries (the Standard Webhooks `webhook-id`). */
  id: string;
  /** The rule that fired. */
  rule: string;
  /** The event it fired on: `created`, `settled` or `deleted`. */
  event: string;
  /** The target's name. */
  target: string;
  /** The title, when the rule gives one. */
  title?: string;
  /** The message. */
  message: string;
  /** ntfy tags. */
  tags: string[];
  /** ntfy priority, 1 to 5. */
  priority: number;
  /** The URL a tap opens, when known. */
  click?: string;
  /** The transaction (its last known state, for `deleted`). */
  transaction: TransactionResource;
}

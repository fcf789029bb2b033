/**
 * Webhook events in Up's wire format: the `WebhookEventCallback` body, serialised as compact JSON
 * with Up's member order, exactly as Up POSTs it (and signs it).
 *
 * @module
 */
import type { WebhookEventCallback, WebhookEventType } from "../up/types.ts";
import { formatUpTime } from "./resources.ts";

/** Options for {@linkcode buildWebhookEvent}. */
export interface BuildWebhookEventOptions {
  /** The webhook the event is for. */
  webhookId: string;
  /** The transaction, for every type but `PING`. */
  transactionId?: string;
  /** The API base for links. Default `https://api.up.com.au/api/v1`. */
  baseUrl?: string;
  /** The event id. Default a random UUID. */
  id?: string;
  /** When it happened, epoch milliseconds. Default now. */
  createdAt?: number;
}

/**
 * Builds a webhook event. `TRANSACTION_DELETED` carries the transaction's id but no link, since
 * the transaction no longer exists; `PING` carries no transaction.
 *
 * @param eventType The event type.
 * @param options The webhook, transaction, base URL, id and time.
 * @returns The event body.
 * @throws {TypeError} If a transaction event has no transaction id.
 *
 * @example
 * ```ts
 * import { buildWebhookEvent } from "./events.ts";
 * const event = buildWebhookEvent("PING", { webhookId: "w1" });
 * if (event.data.attributes.eventType !== "PING") throw new Error("unexpected");
 * ```
 */
export function buildWebhookEvent(
  eventType: WebhookEventType,
  options: BuildWebhookEventOptions,
): WebhookEventCallback {
  const baseUrl = options.baseUrl ?? "https://api.up.com.au/api/v1";
  const event: WebhookEventCallback = {
    data: {
      type: "webhook-events",
      id: options.id ?? crypto.randomUUID(),
      attributes: { eventType, createdAt: formatUpTime(options.createdAt ?? Date.now()) },
      relationships: {
        webhook: {
          data: { type: "webhooks", id: options.webhookId },
          links: { related: `${baseUrl}/webhooks/${options.webhookId}` },
        },
      },
    },
  };
  if (eventType === "PING") return event;
  const transactionId = options.transactionId;
  if (transactionId === undefined || transactionId === "") {
    throw new TypeError(`Cannot build ${eventType} event: the transaction id is missing`);
  }
  event.data.relationships.transaction = eventType === "TRANSACTION_DELETED"
    ? { data: { type: "transactions", id: transactionId } }
    : {
      data: { type: "transactions", id: transactionId },
      links: { related: `${baseUrl}/transactions/${transactionId}` },
    };
  return event;
}

/**
 * Serialises an event the way Up sends it: compact JSON, no trailing newline.
 *
 * @param event The event.
 * @returns The exact request body to sign and send.
 *
 * @example
 * ```ts
 * import { buildWebhookEvent, encodeWebhookEvent } from "./events.ts";
 * const body = encodeWebhookEvent(buildWebhookEvent("PING", { webhookId: "w1", id: "e1", createdAt: 0 }));
 * if (!body.startsWith('{"data":{"type":"webhook-events","id":"e1"')) throw new Error("unexpected");
 * ```
 */
export function encodeWebhookEvent(event: WebhookEventCallback): string {
  return JSON.stringify(event);
}

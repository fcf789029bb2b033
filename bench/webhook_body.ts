/**
 * The webhook body every benchmark sends: an Up TRANSACTION_CREATED event, about 600 bytes, shaped
 * as Up's spec gives it (`WebhookEventResource`), with the event id and transaction id the caller
 * picks.
 *
 * @module
 */

const API = "https://api.up.com.au/api/v1";

/**
 * An Up webhook body for a TRANSACTION_CREATED event.
 *
 * @param id The event id.
 * @param transaction The transaction id.
 * @returns The JSON text, created now.
 */
export function benchWebhookBody(id: string, transaction: string): string {
  return JSON.stringify({
    data: {
      type: "webhook-events",
      id,
      attributes: { eventType: "TRANSACTION_CREATED", createdAt: new Date().toISOString() },
      relationships: {
        webhook: {
          data: { type: "webhooks", id: "bench" },
          links: { related: `${API}/webhooks/bench` },
        },
        transaction: {
          data: { type: "transactions", id: transaction },
          links: { related: `${API}/transactions/${transaction}` },
        },
      },
    },
  });
}

/**
 * Waits for an event to reach a webhook URL, as Up's delivery logs tell it: polls
 * `GET /webhooks/{id}/logs` until the event is `DELIVERED` or time runs out.
 *
 * @module
 */
import type { UpClient } from "./client.ts";
import type { WebhookDeliveryLogResource } from "./types.ts";

/** Options for {@linkcode waitForDelivery}. */
export interface WaitForDeliveryOptions {
  /** The event to look for. */
  eventId: string;
  /** Give up after this many milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Poll every this many milliseconds. Default 500. */
  pollMs?: number;
  /** Waits between polls. Default a `setTimeout` promise. */
  sleep?: (ms: number) => Promise<void>;
  /** The clock. Default `Date.now`. */
  now?: () => number;
  /** Stop at the first failed attempt that a retry soon will not mend: nothing answered
   * (`UNDELIVERABLE`), or a 4xx other than 408 and 429 (a wrong secret, a wrong path). Up keeps
   * retrying such an event for hours; a person waiting at a prompt should not. Default `false`. */
  stopAtHopelessAttempt?: boolean;
}

/** What the logs said. */
export interface DeliveryOutcome {
  /** Whether an attempt was `DELIVERED`. */
  delivered: boolean;
  /** The decisive log entry: the delivered attempt, else the latest attempt, else `null`. */
  log: WebhookDeliveryLogResource | null;
  /** How many attempts were logged for the event. */
  attempts: number;
}

/**
 * Whether a failed attempt is one a retry within seconds will not mend: nothing answered at the
 * URL, or the receiver refused the request itself (a 4xx other than 408 and 429).
 *
 * @param log A delivery log entry.
 * @returns `true` for `UNDELIVERABLE` and such 4xx answers.
 *
 * @example
 * ```ts
 * import { isHopelessAttempt } from "./delivery_wait.ts";
 * const log = { attributes: { deliveryStatus: "UNDELIVERABLE", response: null } };
 * if (!isHopelessAttempt(log as never)) throw new Error("unexpected");
 * ```
 */
export function isHopelessAttempt(log: WebhookDeliveryLogResource): boolean {
  const { deliveryStatus, response } = log.attributes;
  if (deliveryStatus === "UNDELIVERABLE") return true;
  if (deliveryStatus !== "BAD_RESPONSE_CODE" || !response) return false;
  const status = response.statusCode;
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Polls a webhook's delivery logs until an event is delivered or the time runs out.
 *
 * @param up The Up API client.
 * @param webhookId The webhook.
 * @param options The event id, timeout and polling interval.
 * @returns Whether it was delivered, and the log entry that says so (or the latest failure).
 * @throws {UpApiError} If the logs cannot be read.
 *
 * @example
 * ```ts ignore
 * import { waitForDelivery } from "./delivery_wait.ts";
 * const outcome = await waitForDelivery(up, webhook.id, { eventId: ping.data.id });
 * console.log(outcome.delivered ? "delivered" : outcome.log?.attributes.deliveryStatus);
 * ```
 */
export async function waitForDelivery(
  up: UpClient,
  webhookId: string,
  options: WaitForDeliveryOptions,
): Promise<DeliveryOutcome> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const pollMs = options.pollMs ?? 500;
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const deadline = now() + timeoutMs;
  for (;;) {
    const attempts: WebhookDeliveryLogResource[] = [];
    let seen = 0;
    // Logs are newest first: the newest 100 hold a just-sent event's attempts.
    for await (const log of up.webhooks.logs(webhookId, { pageSize: 100 })) {
      if (log.relationships.webhookEvent.data.id === options.eventId) attempts.push(log);
      if (++seen >= 100) break;
    }
    const delivered = attempts.find((log) => log.attributes.deliveryStatus === "DELIVERED");
    if (delivered !== undefined) {
      return { delivered: true, log: delivered, attempts: attempts.length };
    }
    if (
      now() >= deadline ||
      (options.stopAtHopelessAttempt && attempts.length > 0 && isHopelessAttempt(attempts[0]))
    ) {
      return { delivered: false, log: attempts[0] ?? null, attempts: attempts.length };
    }
    await sleep(pollMs);
  }
}

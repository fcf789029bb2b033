/**
 * @module Notification delivery
 * Sends what the outbox holds, one request at a time, in order per target: a 2xx marks it sent;
 * 408, 429, 5xx and network errors are retried with a doubling delay, or as long as
 * `Retry-After` (or the target's own 429 body) asks; other answers and the last attempt make it
 * a dead letter. Each target has a rate limit (`rate_per_minute`). Error texts are stripped of
 * the targets' secrets before they are logged or stored.
 */
import type { Logger } from "../../runtime/log.ts";
import type { Outbox, PendingNotification } from "./outbox.ts";
import { redact, type Target } from "./target.ts";

/** Longest delay between attempts, whatever the doubling reaches. */
const MAX_DELAY_MS = 10 * 60_000;

/** Options for {@linkcode startDelivery}. */
export interface DeliveryOptions {
  /** The outbox it sends from. */
  outbox: Outbox;
  /** The targets by name. */
  targets: Map<string, Target>;
  /** Where it logs (never a secret). */
  logger: Logger;
  /** The HTTP client. Default `fetch`. */
  fetch?: typeof fetch;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Longest `Retry-After` honoured, in ms. Default one hour. */
  maxRetryAfterMs?: number;
  /** Longest wait for one request, in ms. Default 10 000. */
  timeoutMs?: number;
  /** Called after each notification is delivered (tests and the latency figure use it). */
  onSent?: (pending: PendingNotification, at: number) => void;
}

/** The running sender. */
export interface Delivery {
  /** Looks at the outbox now (after new notifications were recorded). */
  wake(): void;
  /** Sent, retried and dead-lettered since start. */
  stats(): { sent: number; retries: number; dead: number };
  /**
   * Stops: no new attempt starts, and an attempt in flight is let finish (within its timeout)
   * and marked, so a notification the target received is not sent again by the next start.
   */
  stop(): Promise<void>;
}

/**
 * How long a `Retry-After` header asks to wait.
 *
 * @param value The header: seconds, or an HTTP date.
 * @param now The clock, epoch ms.
 * @returns Milliseconds, or `undefined` when absent or unreadable.
 *
 * @example
 * ```ts
 * import { retryAfterMs } from "./delivery.ts";
 * if (retryAfterMs("2", 0) !== 2000) throw new Error("unexpected");
 * if (retryAfterMs("Thu, 01 Jan 1970 00:00:05 GMT", 1000) !== 4000) throw new Error("unexpected");
 * ```
 */
export function retryAfterMs(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Starts sending the outbox's pending notifications.
 *
 * @param options The outbox, the targets, the logger, the HTTP client and the clock.
 * @returns The running sender; stop it on shutdown.
 *
 * @example
 * ```ts ignore
 * const delivery = startDelivery({ outbox, targets, logger });
 * delivery.wake();
 * await delivery.stop();
 * ```
 */
export function startDelivery(options: DeliveryOptions): Delivery {
  const { outbox, targets, logger } = options;
  const send = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const maxRetryAfter = options.maxRetryAfterMs ?? 3_600_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const nextSlot = new Map<string, number>();
  const stopper = new AbortController();
  const stats = { sent: 0, retries: 0, dead: 0 };
  let wake: (() => void) | undefined;
  let woken = false;

  function sleep(ms: number): Promise<void> {
    if (woken) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  }

  async function attempt(pending: PendingNotification, target: Target): Promise<void> {
    const { notification, seq } = pending;
    const attempts = pending.attempts + 1;
    let retriable = true;
    let waitAsked: number | undefined;
    let error: string;
    try {
      const request = await target.request(notification, now());
      // The rate limit spaces the requests' starts.
      nextSlot.set(target.config.name, now() + 60_000 / target.config.ratePerMinute);
      const response = await send(request.url, {
        ...request.init,
        // Not the stop's signal: a request the target may already hold is let finish and its
        // answer marked, or the next start (or another process of the group) sends it again.
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await response.text();
      if (response.ok) {
        const at = now();
        outbox.markSent(seq, attempts, at);
        stats.sent++;
        logger.info("notification sent", {
          target: target.config.name,
          rule: notification.rule,
          transactionId: notification.transaction.id,
          attempts,
        });
        options.onSent?.(pending, at);
        return;
      }
      retriable = response.status === 408 || response.status === 429 || response.status >= 500;
      waitAsked = retryAfterMs(response.headers.get("retry-after"), now());
      if (waitAsked === undefined && response.status === 429) {
        try {
          waitAsked = target.retryAfterFromBody?.(body);
        } catch {
          // A 429 body that is not JSON: the doubling delay applies.
        }
      }
      error = `HTTP ${response.status} ${body.slice(0, 200)}`.trim();
    } catch (caught) {
      error = `${(caught as Error).name}: ${(caught as Error).message}`;
    }
    error = redact(error, target.secrets);
    const fields = {
      target: target.config.name,
      rule: notification.rule,
      transactionId: notification.transaction.id,
      attempts,
      error,
    };
    if (!retriable || attempts >= target.config.attempts) {
      outbox.markDead(seq, attempts, error, now());
      stats.dead++;
      logger.warn(
        retriable
          ? "cannot deliver notification: last attempt failed; kept as a dead letter"
          : "cannot deliver notification: the target refused it; kept as a dead letter",
        fields,
      );
      return;
    }
    const doubling = Math.min(target.config.initialDelayMs * 2 ** (attempts - 1), MAX_DELAY_MS);
    const delay = Math.max(doubling, Math.min(waitAsked ?? 0, maxRetryAfter));
    outbox.markRetry(seq, attempts, now() + delay, error);
    stats.retries++;
    logger.warn("cannot deliver notification yet; retrying", { ...fields, retryInMs: delay });
  }

  async function run(): Promise<void> {
    while (!stopper.signal.aborted) {
      let soonest = Infinity;
      let progressed = false;
      const blocked = new Set<string>();
      for (const head of outbox.pending()) {
        if (stopper.signal.aborted) return;
        if (blocked.size >= targets.size && targets.has(head.target)) break;
        const name = head.target;
        if (blocked.has(name)) continue;
        const target = targets.get(name);
        if (target === undefined) {
          const pending = outbox.load(head);
          outbox.markDead(
            pending.seq,
            pending.attempts,
            `no target named "${name}" in the rules file any more`,
            now(),
          );
          stats.dead++;
          logger.warn("cannot deliver notification: its target is gone from the rules file", {
            target: name,
            rule: pending.notification.rule,
          });
          continue;
        }
        const ready = Math.max(head.nextAt, nextSlot.get(name) ?? 0);
        if (ready > now()) {
          // In order per target: nothing after it goes first.
          blocked.add(name);
          soonest = Math.min(soonest, ready);
          continue;
        }
        // Another process of the group may hold it: the one whose claim wins sends it.
        if (!outbox.claim(head.seq, head.nextAt, now() + timeoutMs + 5_000)) {
          blocked.add(name);
          progressed = true;
          continue;
        }
        await attempt(outbox.load(head), target);
        progressed = true;
        blocked.add(name); // Read the outbox again: the rate limit decides what comes next.
      }
      if (!progressed) await sleep(Math.min(soonest - now(), 60_000));
    }
  }

  const running = run().catch((error) => {
    logger.error("notification delivery stopped", { error: (error as Error).message });
  });
  return {
    wake() {
      if (wake) wake();
      else woken = true;
    },
    stats: () => ({ ...stats }),
    async stop() {
      stopper.abort();
      wake?.();
      await running;
    },
  };
}

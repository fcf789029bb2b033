/**
 * Webhook delivery the way Up does it: a signed JSON `POST`, a 30 s timeout, only HTTP 200
 * counts, retries with backoff, and one delivery log per attempt (`DELIVERED`,
 * `BAD_RESPONSE_CODE` or `UNDELIVERABLE`).
 *
 * @module
 */
import { SIGNATURE_HEADER, signBody } from "../webhook/signature.ts";
import type { WebhookDeliveryStatus } from "../up/types.ts";

/** Longest response body kept in a delivery log, in characters. */
const MAX_LOGGED_BODY = 4096;

/** The outcome of one delivery attempt. */
export interface DeliveryAttempt {
  /** `DELIVERED` (HTTP 200), `BAD_RESPONSE_CODE` (other status) or `UNDELIVERABLE` (none). */
  deliveryStatus: WebhookDeliveryStatus;
  /** The response, or `null` when none arrived. */
  response: { statusCode: number; body: string } | null;
  /** Why no response arrived, when none did. */
  error?: string;
}

/** Options for {@linkcode sendSignedEvent}. */
export interface SendSignedEventOptions {
  /** The webhook's secret key. */
  secret: string;
  /** The fetch to use. Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Give up waiting after this many milliseconds. Default 30 000, as Up. */
  timeoutMs?: number;
  /** Aborts the attempt (as on shutdown). */
  signal?: AbortSignal;
}

/**
 * Sends one signed event body to a URL, once.
 *
 * @param url The webhook URL.
 * @param body The exact body (compact JSON).
 * @param options The secret, fetch and timeout.
 * @returns The outcome; never throws for a network failure (that is `UNDELIVERABLE`).
 *
 * @example
 * ```ts ignore
 * import { sendSignedEvent } from "./delivery.ts";
 * const attempt = await sendSignedEvent("http://127.0.0.1:8080/webhook", "{}", { secret: "s3cret" });
 * console.log(attempt.deliveryStatus);
 * ```
 */
export async function sendSignedEvent(
  url: string,
  body: string,
  options: SendSignedEventOptions,
): Promise<DeliveryAttempt> {
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const signature = await signBody(body, options.secret);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const abort = () => controller.abort();
  options.signal?.addEventListener("abort", abort);
  try {
    const response = await fetchFn(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "User-Agent": "upbus-up-simulator",
        [SIGNATURE_HEADER]: signature,
      },
      body,
      signal: controller.signal,
      redirect: "manual",
    });
    const text = await response.text();
    return {
      deliveryStatus: response.status === 200 ? "DELIVERED" : "BAD_RESPONSE_CODE",
      response: { statusCode: response.status, body: text.slice(0, MAX_LOGGED_BODY) },
    };
  } catch (error) {
    const reason = controller.signal.aborted
      ? `no response within ${timeoutMs} ms`
      : error instanceof Error
      ? error.message
      : String(error);
    return { deliveryStatus: "UNDELIVERABLE", response: null, error: reason };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
  }
}

/** Where and how one event goes. */
export interface DeliveryTarget {
  /** The webhook's id. */
  webhookId: string;
  /** Where to `POST` the event. */
  url: string;
  /** The webhook's secret, that signs the body. */
  secretKey: string;
  /** The event's id. */
  eventId: string;
  /** The exact body. */
  body: string;
}

/** Options for {@linkcode WebhookDeliverer}. */
export interface WebhookDelivererOptions {
  /** The fetch to use. Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Per-attempt timeout in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Delays before each retry, in milliseconds; its length bounds the retries. Default
   * `[1_000, 5_000, 30_000, 120_000, 600_000]`. Tests pass a few milliseconds. */
  retryDelaysMs?: readonly number[];
  /** Stops retrying once this many milliseconds have passed since the first attempt (a retry
   * that would start later is not made). Default none: the schedule alone bounds it. */
  giveUpMs?: number;
  /** Records each attempt (the simulator's delivery log). */
  onAttempt?: (target: DeliveryTarget, attempt: DeliveryAttempt) => void;
  /** Whether to keep retrying (false once the webhook is deleted). Default always. */
  shouldRetry?: (target: DeliveryTarget) => boolean;
}

/** Delivers events in the background with retries; `close()` cancels everything pending. */
export class WebhookDeliverer {
  readonly #options: WebhookDelivererOptions;
  readonly #pending = new Set<Promise<void>>();
  readonly #timers = new Map<ReturnType<typeof setTimeout>, () => void>();
  readonly #controller = new AbortController();

  /**
   * Makes a deliverer with nothing pending.
   *
   * @param options Fetch, timeout, retry schedule and the attempt hook.
   */
  constructor(options: WebhookDelivererOptions = {}) {
    this.#options = options;
  }

  /**
   * Starts delivering an event; returns at once.
   *
   * @param target The webhook and the event body.
   */
  deliver(target: DeliveryTarget): void {
    if (this.#controller.signal.aborted) return;
    const run = this.#run(target).finally(() => this.#pending.delete(run));
    this.#pending.add(run);
  }

  /**
   * Waits until no delivery is in flight or waiting to retry.
   *
   * @returns When idle.
   */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** Aborts attempts in flight, cancels retries and waits for them to wind down. */
  async close(): Promise<void> {
    this.#controller.abort();
    for (const [timer, resolve] of this.#timers) {
      clearTimeout(timer);
      resolve();
    }
    this.#timers.clear();
    await this.idle();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.set(timer, resolve);
    });
  }

  async #run(target: DeliveryTarget): Promise<void> {
    const delays = this.#options.retryDelaysMs ?? [1_000, 5_000, 30_000, 120_000, 600_000];
    const signal = this.#controller.signal;
    const started = Date.now();
    const giveUpMs = this.#options.giveUpMs ?? Infinity;
    for (let attempt = 0;; attempt++) {
      const result = await sendSignedEvent(target.url, target.body, {
        secret: target.secretKey,
        fetch: this.#options.fetch,
        timeoutMs: this.#options.timeoutMs,
        signal,
      });
      if (signal.aborted) return;
      this.#options.onAttempt?.(target, result);
      if (result.deliveryStatus === "DELIVERED" || attempt >= delays.length) return;
      if (Date.now() + delays[attempt] - started > giveUpMs) return;
      await this.#wait(delays[attempt]);
      if (signal.aborted || this.#options.shouldRetry?.(target) === false) return;
    }
  }
}

/**
 * @module Log recovery
 * Recovery from Up's delivery logs (`GET /webhooks/{id}/logs`, newest first): reads each
 * webhook's log entries back to a point (the last complete pass less a margin), finds the
 * webhook events the store does not hold (Up gave up on them: `UNDELIVERABLE`,
 * `BAD_RESPONSE_CODE`), and commits each logged body to the store as the event it is, marked
 * `recovered`, in the order Up created the events. The body carries no signature: its proof of
 * origin is the read itself, over TLS from Up's API with the account's token (docs/delivery.md).
 * Such a body never comes in through the public listener.
 */
import type { Logger } from "../../runtime/log.ts";
import type { Increment } from "../../runtime/metrics.ts";
import type { TransactionEventRow } from "../../store/queries.ts";
import type { AppendOutcome, NewEvent } from "../../store/types.ts";
import { UpNotFoundError } from "../../up/errors.ts";
import type { UpClient } from "../../up/client.ts";
import type { WebhookDeliveryStatus } from "../../up/types.ts";
import { InvalidEventError, parseEvent } from "../event.ts";

/** An event Up logged that the store does not hold. */
export interface MissingEvent {
  /** Up's event id. */
  eventId: string;
  /** The event's type, such as `TRANSACTION_CREATED`. */
  type: string;
  /** The webhook whose log holds it. */
  webhookId: string;
  /** The transaction it is about, when it is about one. */
  transactionId?: string;
  /** When Up created the event (from the body). */
  createdAt: string;
  /** The body exactly as logged. */
  body: Uint8Array;
  /** The status of Up's latest attempt. */
  lastStatus: WebhookDeliveryStatus;
  /** Attempts logged. */
  attempts: number;
  /** How far down Up's newest-first log its first attempt is: orders events created in the same
   * second (Up's times are whole seconds), the higher the earlier. */
  firstAttemptDepth: number;
}

/** Up's creation order: by `createdAt`, then (within a second) by first attempt, oldest first. */
function creationOrder(a: MissingEvent, b: MissingEvent): number {
  return Date.parse(a.createdAt) - Date.parse(b.createdAt) ||
    b.firstAttemptDepth - a.firstAttemptDepth;
}

/** A transaction's events in the order they can happen. */
const LIFE: Record<string, number> = {
  TRANSACTION_CREATED: 0,
  TRANSACTION_SETTLED: 1,
  TRANSACTION_DELETED: 2,
};

/**
 * Sorts events in Up's creation order as far as the log tells it (whole seconds, then first
 * attempts), and keeps each transaction's own events in the order they can happen (created,
 * settled, deleted) where the log cannot tell them apart, by swapping them within their slots.
 */
function inCreationOrder(events: MissingEvent[]): MissingEvent[] {
  const sorted = [...events].sort(creationOrder);
  const slots = new Map<string, number[]>();
  sorted.forEach((event, index) => {
    if (event.transactionId === undefined) return;
    slots.set(event.transactionId, [...(slots.get(event.transactionId) ?? []), index]);
  });
  for (const indexes of slots.values()) {
    if (indexes.length < 2) continue;
    const own = indexes.map((index) => sorted[index]).sort((a, b) =>
      Date.parse(a.createdAt) - Date.parse(b.createdAt) ||
      (LIFE[a.type] ?? 0) - (LIFE[b.type] ?? 0)
    );
    indexes.forEach((index, i) => sorted[index] = own[i]);
  }
  return sorted;
}

/** What one webhook's logs hold. */
export interface WebhookLogPlan {
  /** The webhook whose logs these are. */
  webhookId: string;
  /** Log entries read in the window. */
  entries: number;
  /** Distinct events among them. */
  events: number;
  /** Events the store does not hold, oldest first. */
  missing: MissingEvent[];
  /** Entries whose body is not a webhook event (counted, never stored). */
  unreadable: number;
  /** The webhook no longer exists at Up (its logs went with it). */
  gone: boolean;
}

/** What the plan needs of the store. */
export interface LogRecoveryStore {
  /** Which of these event ids are stored. */
  known(eventIds: readonly string[]): Set<string>;
  /** The stored events about each of these transactions (another webhook's copy of the same
   * happening has another event id). */
  transactionEvents(transactionIds: readonly string[]): Map<string, TransactionEventRow[]>;
  /** Commits one event durably. */
  append(event: NewEvent): Promise<AppendOutcome>;
}

/** Options for {@linkcode planLogRecovery}. */
export interface PlanLogRecoveryOptions {
  /** The webhooks to read. */
  webhookIds: readonly string[];
  /** Per webhook: read back to entries created at or after this instant; absent: all. */
  since?: (webhookId: string) => Date | undefined;
  /** Ignore entries created at or after this instant. Default none. */
  until?: Date;
  /** Told after each log entry read, for a progress bar. */
  onEntry?: (webhookId: string) => void;
}

/** Up's page size for logs: the largest, so a quiet pass costs one request per webhook. */
const LOG_PAGE_SIZE = 100;

/**
 * Reads the webhooks' delivery logs and works out what is missing; changes nothing.
 *
 * @param up The Up API client (its fetch should sit behind the request budget).
 * @param store Where the known event ids are looked up.
 * @param options Webhooks, window and progress.
 * @returns One plan per webhook, in the order given.
 * @throws {UpApiError} If Up cannot be read (401, 5xx or 429 after the client's retries).
 *
 * @example
 * ```ts ignore
 * import { planLogRecovery } from "./log_recovery.ts";
 * const plans = await planLogRecovery(up, store, { webhookIds: ["wh-1"] });
 * console.log(plans[0].missing.length);
 * ```
 */
export async function planLogRecovery(
  up: UpClient,
  store: Pick<LogRecoveryStore, "known" | "transactionEvents">,
  options: PlanLogRecoveryOptions,
): Promise<WebhookLogPlan[]> {
  const plans: WebhookLogPlan[] = [];
  for (const webhookId of options.webhookIds) {
    const since = options.since?.(webhookId)?.getTime();
    const until = options.until?.getTime();
    const byEvent = new Map<string, MissingEvent>();
    let entries = 0;
    let unreadable = 0;
    let gone = false;
    try {
      for await (const entry of up.webhooks.logs(webhookId, { pageSize: LOG_PAGE_SIZE })) {
        const at = Date.parse(entry.attributes.createdAt);
        if (since !== undefined && at < since) break; // newest first: the rest is older
        if (until !== undefined && at >= until) continue;
        entries++;
        options.onEntry?.(webhookId);
        const eventId = entry.relationships.webhookEvent.data.id;
        const seen = byEvent.get(eventId);
        if (seen !== undefined) {
          seen.attempts++;
          seen.firstAttemptDepth = entries;
          continue;
        }
        const body = new TextEncoder().encode(entry.attributes.request.body);
        let event;
        try {
          event = parseEvent(body);
        } catch (error) {
          if (!(error instanceof InvalidEventError)) throw error;
          unreadable++;
          continue;
        }
        if (event.id !== eventId) {
          unreadable++; // a body that is not the event the entry names: never trusted
          continue;
        }
        byEvent.set(eventId, {
          eventId,
          type: event.type,
          webhookId: event.webhookId,
          ...(event.transactionId ? { transactionId: event.transactionId } : {}),
          createdAt: event.createdAt,
          body,
          lastStatus: entry.attributes.deliveryStatus,
          attempts: 1,
          firstAttemptDepth: entries,
        });
      }
    } catch (error) {
      if (!(error instanceof UpNotFoundError)) throw error;
      gone = true;
    }
    const known = store.known([...byEvent.keys()]);
    // Up sends each webhook its own copy (its own event id) of one happening: a transaction's
    // CREATED that another webhook delivered is not missing.
    const happened = store.transactionEvents(
      [...byEvent.values()].flatMap((event) => event.transactionId ? [event.transactionId] : []),
    );
    const missing = [...byEvent.values()]
      .filter((event) =>
        !known.has(event.eventId) &&
        !(event.transactionId !== undefined &&
          happened.get(event.transactionId)?.some((stored) => stored.type === event.type))
      );
    plans.push({
      webhookId,
      entries,
      events: byEvent.size,
      missing: inCreationOrder(missing),
      unreadable,
      gone,
    });
  }
  return plans;
}

/** Options for {@linkcode applyLogRecovery}. */
export interface ApplyLogRecoveryOptions {
  /** Where each recovered event is logged, one line per event. */
  logger: Logger;
  /** Counted per event committed: `upbus_recovered_events_total`. */
  recovered?: Increment;
  /** The store's own counters, as for a live delivery. */
  stored?: Increment;
  /** Counted per event already stored: `upbus_duplicate_events_total`. */
  duplicates?: Increment;
  /** The clock. Default `() => new Date()`. */
  now?: () => Date;
  /** Told after each event committed, for a progress bar. */
  onEvent?: () => void;
}

/** What applying a plan did. */
export interface LogRecoveryResult {
  /** Events committed, marked recovered. */
  recovered: number;
  /** Events that arrived another way meanwhile (a late retry of Up's): nothing written. */
  duplicates: number;
}

/**
 * Commits every missing event of the plans to the store, marked recovered, in the order Up
 * created them (across webhooks), one log line each.
 *
 * @param plans From {@linkcode planLogRecovery}.
 * @param store The event store.
 * @param options Logger, counters and clock.
 * @returns How many were recovered.
 * @throws {StoreUnavailableError} If the store cannot commit (nothing is lost: the next pass
 * finds the same events missing).
 */
export async function applyLogRecovery(
  plans: readonly WebhookLogPlan[],
  store: Pick<LogRecoveryStore, "append">,
  options: ApplyLogRecoveryOptions,
): Promise<LogRecoveryResult> {
  const now = options.now ?? (() => new Date());
  const all = inCreationOrder(plans.flatMap((plan) => plan.missing));
  const result: LogRecoveryResult = { recovered: 0, duplicates: 0 };
  const happenings = new Set<string>();
  for (const event of all) {
    // Two webhooks' copies of one happening (both missed): the oldest goes in, once.
    if (event.transactionId !== undefined) {
      const happening = `${event.type} ${event.transactionId}`;
      if (happenings.has(happening)) continue;
      happenings.add(happening);
    }
    const outcome = await store.append({
      eventId: event.eventId,
      type: event.type,
      webhookId: event.webhookId,
      ...(event.transactionId ? { transactionId: event.transactionId } : {}),
      createdAt: event.createdAt,
      body: event.body,
      signature: "",
      receivedAt: now().toISOString(),
      origin: "recovered",
    });
    options.onEvent?.();
    if (outcome === "duplicate") {
      result.duplicates++;
      options.duplicates?.inc();
      continue;
    }
    result.recovered++;
    options.stored?.inc();
    options.recovered?.inc();
    options.logger.info("recovered webhook event from Up's delivery logs", {
      eventId: event.eventId,
      type: event.type,
      transactionId: event.transactionId,
      webhookId: event.webhookId,
      createdAt: event.createdAt,
      lastDeliveryStatus: event.lastStatus,
      attempts: event.attempts,
    });
  }
  return result;
}

/**
 * @module Notify consumer
 * The built-in `notify` consumer: each record of `up.transactions` is checked against the rules
 * file; what matches is rendered and written to the outbox (`DATA_DIR/notify/state.db`) before
 * the record's offset is committed, and sent to its targets (ntfy, signed webhooks, Telegram,
 * Discord) by the delivery loop. A transaction fires a rule once: on `created` (first seen, held
 * or settled) by default; on `settled` or `deleted` only when the rule asks.
 */
import { type Delivery, type DeliveryOptions, startDelivery } from "./delivery.ts";
import { ruleMatches } from "./match.ts";
import type { Notification } from "./notification.ts";
import { Outbox } from "./outbox.ts";
import type { Rule, RuleEvent, Rules } from "./rules.ts";
import type { Target } from "./target.ts";
import { deepLink, renderTemplate, templateValues } from "./template.ts";
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { Logger } from "../../runtime/log.ts";
import type { TransactionResource } from "../../up/types.ts";
import type { Consumer } from "../../bus/consumer.ts";
import { DEFAULT_TIME_ZONE } from "../../runtime/dates.ts";

/** Options for {@linkcode createNotifyConsumer}. */
export interface NotifyConsumerOptions {
  /** The checked rules file. */
  rules: Rules;
  /** The targets, secrets read. */
  targets: Map<string, Target>;
  /** The state file, `DATA_DIR/notify/state.db`. */
  statePath: string;
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /** Account display names by id, for matching and messages. */
  accountNames?: Record<string, string>;
  /** The time zone of dates and times in messages. Default `Australia/Sydney`. */
  timeZone?: string;
  /** Where it logs. */
  logger: Logger;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Delivery options: the HTTP client, timeouts, the `onSent` hook. */
  delivery?: Pick<DeliveryOptions, "fetch" | "onSent" | "timeoutMs" | "maxRetryAfterMs">;
}

/** The running `notify` consumer's handles. */
export interface NotifyConsumer extends Consumer {
  /** The outbox. */
  outbox: Outbox;
  /** The delivery loop. */
  delivery: Delivery;
  /** Stops the delivery loop and closes the outbox. */
  close(): Promise<void>;
}

/** A rule that fired, rendered. */
export interface Firing {
  /** The rule. */
  rule: Rule;
  /** The event it fired on. */
  event: RuleEvent;
  /** One notification per action. */
  notifications: Array<{ key: string; notification: Notification }>;
}

/**
 * The events a record means, given what was seen of its transaction before.
 *
 * @param previous The last known status, or `undefined` when never seen.
 * @param transaction The new state, or `null` for a tombstone.
 * @returns The events, in order.
 *
 * @example
 * ```ts
 * import { eventsOf } from "./notify.ts";
 * if (eventsOf("HELD", null).join() !== "deleted") throw new Error("unexpected");
 * if (eventsOf(undefined, null).length !== 0) throw new Error("unexpected");
 * ```
 */
export function eventsOf(
  previous: string | undefined,
  transaction: TransactionResource | null,
): RuleEvent[] {
  if (transaction === null) return previous === undefined ? [] : ["deleted"];
  const events: RuleEvent[] = [];
  if (previous === undefined) events.push("created");
  if (transaction.attributes.status === "SETTLED" && previous !== "SETTLED") {
    events.push("settled");
  }
  return events;
}

/**
 * Which rules fire for a transaction at these events, rendered. A rule fires at most once per
 * record: at the first of the events it is for.
 *
 * @param rules The rules.
 * @param events The events (from {@linkcode eventsOf}).
 * @param transaction The transaction (last known state for `deleted`).
 * @param options Account names and time zone.
 * @returns The rules that fire, with their notifications.
 */
export function firings(
  rules: Rules,
  events: RuleEvent[],
  transaction: TransactionResource,
  options: { accountNames?: Record<string, string>; timeZone?: string },
): Firing[] {
  const accountName = options.accountNames?.[transaction.relationships.account.data.id];
  const out: Firing[] = [];
  for (const rule of rules.rules) {
    const event = events.find((candidate) =>
      ruleMatches(rule, candidate, transaction, accountName)
    );
    if (event === undefined) continue;
    const values = templateValues({
      transaction,
      accountName,
      event,
      rule: rule.name,
      timeZone: options.timeZone ?? DEFAULT_TIME_ZONE,
    });
    const notifications = rule.actions.map((action, index) => {
      const click = action.click ? renderTemplate(action.click, values) : deepLink(transaction);
      const notification: Notification = {
        id: `msg_${crypto.randomUUID().replaceAll("-", "")}`,
        rule: rule.name,
        event,
        target: action.target,
        message: renderTemplate(action.message, values),
        tags: action.tags,
        priority: action.priority,
        transaction,
      };
      if (action.title) notification.title = renderTemplate(action.title, values);
      if (click) notification.click = click;
      return { key: [rule.name, transaction.id, event, index].join("\u0000"), notification };
    });
    out.push({ rule, event, notifications });
  }
  return out;
}

/**
 * Creates the `notify` consumer and starts its delivery loop (pending notifications left by a
 * previous run are sent at once).
 *
 * @param options Rules, targets, state file, topic, names, time zone, logger.
 * @returns The consumer; it resumes from its group's offsets (new transactions only at first).
 *
 * @example
 * ```ts ignore
 * const consumer = createNotifyConsumer({ rules, targets, statePath, logger });
 * ```
 */
export function createNotifyConsumer(options: NotifyConsumerOptions): NotifyConsumer {
  const { rules, logger } = options;
  const now = options.now ?? Date.now;
  const outbox = new Outbox(options.statePath);
  const delivery = startDelivery({
    outbox,
    targets: options.targets,
    logger,
    now,
    ...options.delivery,
  });
  return {
    name: "notify",
    topic: options.topic ?? "up.transactions",
    fromBeginning: false,
    outbox,
    delivery,
    handle(message) {
      const { id, transaction } = readTransactionRecord(message.key, message.value);
      const added = outbox.record(id, transaction, (seen) => {
        const events = eventsOf(seen?.status, transaction);
        const subject = transaction ?? seen?.transaction;
        if (events.length === 0 || subject === undefined) return [];
        return firings(rules, events, subject, options).flatMap((firing) => {
          logger.info("rule matched", {
            rule: firing.rule.name,
            event: firing.event,
            transactionId: id,
          });
          return firing.notifications;
        });
      }, now());
      if (added > 0) delivery.wake();
    },
    async close() {
      try {
        await delivery.stop();
      } finally {
        outbox.close();
      }
    },
  };
}

/**
 * @module Transaction events
 * What a record of `up.transactions` means as a Home Assistant event, given what was known of
 * its transaction before: `purchase`, `income`, `transfer_in` or `transfer_out` when first seen,
 * `settled` when a held one settles, `deleted` when Up removed it (a tombstone). Each payload
 * carries `event_type`, an `event_id` (the same for a redelivery) and the transaction's fields.
 */
import type { TransactionResource } from "../../up/types.ts";

/** The event types of the event entity, in the order Home Assistant lists them. */
export const EVENT_TYPES = [
  "purchase",
  "income",
  "transfer_in",
  "transfer_out",
  "settled",
  "deleted",
] as const;

/** One of {@linkcode EVENT_TYPES}. */
export type EventType = typeof EVENT_TYPES[number];

/**
 * The kind of a transaction seen for the first time.
 *
 * @param transaction The transaction.
 * @returns `transfer_in`/`transfer_out` between one's own accounts, else `purchase` for money
 * out and `income` for money in.
 */
export function kindOf(transaction: TransactionResource): EventType {
  const out = transaction.attributes.amount.valueInBaseUnits < 0;
  if (transaction.relationships.transferAccount?.data != null) {
    return out ? "transfer_out" : "transfer_in";
  }
  return out ? "purchase" : "income";
}

/**
 * The events a record means.
 *
 * @param previous The transaction's last known state, or `undefined` when never seen.
 * @param transaction Its new state, or `null` for a tombstone.
 * @returns The event types, in order (none for a record that changes nothing).
 *
 * @example
 * ```ts ignore
 * eventTypesOf(undefined, heldPurchase); // ["purchase"]
 * eventTypesOf(heldPurchase, settledPurchase); // ["settled"]
 * eventTypesOf(settledPurchase, null); // ["deleted"]
 * ```
 */
export function eventTypesOf(
  previous: TransactionResource | undefined,
  transaction: TransactionResource | null,
): EventType[] {
  if (transaction === null) return previous === undefined ? [] : ["deleted"];
  if (previous === undefined) return [kindOf(transaction)];
  if (previous.attributes.status !== "SETTLED" && transaction.attributes.status === "SETTLED") {
    return ["settled"];
  }
  return [];
}

/**
 * The JSON fields of a transaction, flat, as events and the last-transaction topic carry them.
 *
 * @param transaction The transaction.
 * @param accountName The account's name as Up shows it, when known.
 * @returns Amounts in the currency's units (`-12.5`), times in ISO 8601 as Up sent them.
 */
export function transactionFields(
  transaction: TransactionResource,
  accountName?: string,
): Record<string, string | number | boolean | null> {
  const { attributes, relationships } = transaction;
  return {
    transaction_id: transaction.id,
    description: attributes.description,
    amount: attributes.amount.valueInBaseUnits / 100,
    currency: attributes.amount.currencyCode,
    status: attributes.status,
    message: attributes.message,
    raw_text: attributes.rawText,
    category: relationships.category?.data?.id ?? null,
    parent_category: relationships.parentCategory?.data?.id ?? null,
    foreign_amount: attributes.foreignAmount === null
      ? null
      : attributes.foreignAmount.valueInBaseUnits / 100,
    foreign_currency: attributes.foreignAmount?.currencyCode ?? null,
    account_id: relationships.account.data.id,
    account: accountName ?? null,
    transfer_account_id: relationships.transferAccount?.data?.id ?? null,
    created_at: attributes.createdAt,
    settled_at: attributes.settledAt,
    deep_link: attributes.deepLinkURL ?? null,
  };
}

/**
 * The payload of one event.
 *
 * @param type The event type.
 * @param transaction The transaction (its last known state for `deleted`).
 * @param accountName The account's name, when known.
 * @returns `event_type`, `event_id` (`<transaction id>:<event type>`) and the fields.
 */
export function eventPayload(
  type: EventType,
  transaction: TransactionResource,
  accountName?: string,
): Record<string, string | number | boolean | null> {
  return {
    event_type: type,
    event_id: `${transaction.id}:${type}`,
    ...transactionFields(transaction, accountName),
  };
}

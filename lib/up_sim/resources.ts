/**
 * JSON:API resources of the Up simulator: turns the simulated bank's records into the exact
 * shapes of the Up spec (`AccountResource`, `TransactionResource`, `CategoryResource`,
 * `WebhookResource`, `WebhookDeliveryLogResource`), with Sydney date-times as Up sends them.
 *
 * @module
 */
import type {
  AccountResource,
  CategoryResource,
  MoneyObject,
  TransactionResource,
  WebhookDeliveryLogResource,
  WebhookResource,
} from "../up/types.ts";
import {
  SIM_CATEGORIES,
  SIM_CATEGORY_NAMES,
  type SimAccount,
  type SimDeliveryLog,
  type SimTransaction,
  type SimWebhook,
} from "./bank.ts";

const SYDNEY = new Intl.DateTimeFormat("en-AU", {
  timeZone: "Australia/Sydney",
  hourCycle: "h23",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  timeZoneName: "longOffset",
});

/**
 * Formats an instant the way Up does: RFC 3339, whole seconds, in Sydney's time with the offset
 * in force at that instant (`+11:00` in summer, `+10:00` in winter).
 *
 * @param epochMs The instant.
 * @returns For example `2024-08-06T12:19:01+10:00` or `2024-12-24T09:30:00+11:00`.
 *
 * @example
 * ```ts
 * import { formatUpTime } from "./resources.ts";
 * if (formatUpTime(0) !== "1970-01-01T10:00:00+10:00") throw new Error("winter");
 * if (formatUpTime(Date.UTC(2024, 11, 24)) !== "2024-12-24T11:00:00+11:00") throw new Error("summer");
 * ```
 */
export function formatUpTime(epochMs: number): string {
  const parts = Object.fromEntries(
    SYDNEY.formatToParts(Math.floor(epochMs / 1000) * 1000).map((part) => [part.type, part.value]),
  );
  // "GMT+11:00"; plain "GMT" would mean UTC, which Sydney never is.
  const offset = parts.timeZoneName.replace("GMT", "") || "+00:00";
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
}

/**
 * An amount of Australian dollars as a `MoneyObject`.
 *
 * @param cents The signed amount in cents.
 * @returns `{ currencyCode: "AUD", value: "-12.50", valueInBaseUnits: -1250 }`.
 *
 * @example
 * ```ts
 * import { money } from "./resources.ts";
 * if (money(-1250).value !== "-12.50") throw new Error("unexpected");
 * ```
 */
export function money(cents: number): MoneyObject {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return {
    currencyCode: "AUD",
    value: `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`,
    valueInBaseUnits: cents,
  };
}

/**
 * An account as an `AccountResource`.
 *
 * @param account The account.
 * @param options Its balance in cents and the API base for links.
 * @returns The resource.
 */
export function accountResource(
  account: SimAccount,
  options: { balanceCents: number; baseUrl: string },
): AccountResource {
  const self = `${options.baseUrl}/accounts/${account.id}`;
  return {
    type: "accounts",
    id: account.id,
    attributes: {
      displayName: account.displayName,
      accountType: account.accountType,
      ownershipType: account.ownershipType,
      balance: money(options.balanceCents),
      createdAt: formatUpTime(account.createdAt),
    },
    relationships: { transactions: { links: { related: `${self}/transactions` } } },
    links: { self },
  };
}

/**
 * A transaction as a `TransactionResource`.
 *
 * @param transaction The transaction.
 * @param baseUrl The API base for links.
 * @returns The resource.
 */
export function transactionResource(
  transaction: SimTransaction,
  baseUrl: string,
): TransactionResource {
  const self = `${baseUrl}/transactions/${transaction.id}`;
  const amount = money(transaction.amountCents);
  const transferTo = transaction.transferAccountId ?? null;
  const purchase = transaction.amountCents < 0 && transferTo === null;
  const parent = transaction.categoryId === null ? null : SIM_CATEGORIES[transaction.categoryId];
  return {
    type: "transactions",
    id: transaction.id,
    attributes: {
      status: transaction.status,
      rawText: transaction.rawText,
      description: transaction.description,
      message: transaction.message,
      isCategorizable: transferTo === null && transaction.amountCents < 0,
      holdInfo: transaction.wasHeld ? { amount, foreignAmount: null } : null,
      roundUp: null,
      cashback: null,
      amount,
      foreignAmount: null,
      cardPurchaseMethod: purchase ? { method: "CONTACTLESS", cardNumberSuffix: "0001" } : null,
      settledAt: transaction.settledAt === null ? null : formatUpTime(transaction.settledAt),
      createdAt: formatUpTime(transaction.createdAt),
      transactionType: transferTo !== null ? "Transfer" : purchase ? "Purchase" : "Deposit",
      note: null,
      performingCustomer: { displayName: "Sim" },
      // Up sends it though its spec does not list it: opens the transaction in the app.
      deepLinkURL: `up://transaction/${transaction.id}`,
    },
    relationships: {
      account: {
        data: { type: "accounts", id: transaction.accountId },
        links: { related: `${baseUrl}/accounts/${transaction.accountId}` },
      },
      transferAccount: transferTo === null ? { data: null } : {
        data: { type: "accounts", id: transferTo },
        links: { related: `${baseUrl}/accounts/${transferTo}` },
      },
      category: transaction.categoryId === null
        ? { data: null, links: { self: `${self}/relationships/category` } }
        : {
          data: { type: "categories", id: transaction.categoryId },
          links: {
            self: `${self}/relationships/category`,
            related: `${baseUrl}/categories/${transaction.categoryId}`,
          },
        },
      parentCategory: parent === null || parent === undefined ? { data: null } : {
        data: { type: "categories", id: parent },
        links: { related: `${baseUrl}/categories/${parent}` },
      },
      tags: { data: [], links: { self: `${self}/relationships/tags` } },
      attachment: { data: null },
    },
    links: { self },
  };
}

/**
 * A category as a `CategoryResource`, with its parent and children.
 *
 * @param id A category id of `SIM_CATEGORIES`.
 * @param baseUrl The API base for links.
 * @returns The resource.
 *
 * @example
 * ```ts
 * import { categoryResource } from "./resources.ts";
 * const resource = categoryResource("groceries", "http://127.0.0.1:8787/api/v1");
 * if (resource.attributes.name !== "Groceries") throw new Error("unexpected");
 * ```
 */
export function categoryResource(id: string, baseUrl: string): CategoryResource {
  const parent = SIM_CATEGORIES[id];
  const children = Object.keys(SIM_CATEGORIES).filter((child) => SIM_CATEGORIES[child] === id);
  const self = `${baseUrl}/categories/${id}`;
  return {
    type: "categories",
    id,
    attributes: { name: SIM_CATEGORY_NAMES[id] ?? id },
    relationships: {
      parent: parent === null ? { data: null } : {
        data: { type: "categories", id: parent },
        links: { related: `${baseUrl}/categories/${parent}` },
      },
      children: {
        data: children.map((child) => ({ type: "categories" as const, id: child })),
        links: { related: `${baseUrl}/categories?filter%5Bparent%5D=${id}` },
      },
    },
    links: { self },
  };
}

/**
 * A webhook as a `WebhookResource`; the secret only when asked (at creation).
 *
 * @param webhook The webhook.
 * @param options The API base for links, and whether to include `secretKey`.
 * @returns The resource.
 */
export function webhookResource(
  webhook: SimWebhook,
  options: { baseUrl: string; withSecret?: boolean },
): WebhookResource {
  const self = `${options.baseUrl}/webhooks/${webhook.id}`;
  return {
    type: "webhooks",
    id: webhook.id,
    attributes: {
      url: webhook.url,
      description: webhook.description,
      ...(options.withSecret ? { secretKey: webhook.secretKey } : {}),
      createdAt: formatUpTime(webhook.createdAt),
    },
    relationships: { logs: { links: { related: `${self}/logs` } } },
    links: { self },
  };
}

/**
 * A delivery attempt as a `WebhookDeliveryLogResource`.
 *
 * @param log The attempt.
 * @returns The resource.
 */
export function deliveryLogResource(log: SimDeliveryLog): WebhookDeliveryLogResource {
  return {
    type: "webhook-delivery-logs",
    id: log.id,
    attributes: {
      request: { body: log.requestBody },
      response: log.response,
      deliveryStatus: log.deliveryStatus,
      createdAt: formatUpTime(log.createdAt),
    },
    relationships: {
      webhookEvent: { data: { type: "webhook-events", id: log.eventId } },
    },
  };
}

/**
 * @module Message templates
 * `{{field}}` placeholders in a rule's message, title and click URL, filled from the transaction
 * that matched. The fields are a fixed list, checked when the rules file is read.
 */
import type { TransactionResource } from "../../up/types.ts";
import { localDateTime } from "../../runtime/dates.ts";
import { formatDollars } from "../../runtime/money.ts";

/** The fields a template can use. */
export const TEMPLATE_FIELDS: readonly string[] = [
  "description",
  "amount",
  "signed_amount",
  "currency",
  "account",
  "category",
  "parent_category",
  "status",
  "event",
  "rule",
  "date",
  "time",
  "id",
  "message",
  "raw_text",
  "deep_link",
];

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

/**
 * The fields a template uses.
 *
 * @param template The template.
 * @returns The field names, in order.
 *
 * @example
 * ```ts
 * import { templateFields } from "./template.ts";
 * if (templateFields("{{amount}} at {{ description }}").join() !== "amount,description") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function templateFields(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((match) => match[1]);
}

/** What a template is filled from. */
export interface TemplateContext {
  /** The transaction. */
  transaction: TransactionResource;
  /** The account's display name, when known. */
  accountName?: string;
  /** The event the rule fired on. */
  event: string;
  /** The rule's name. */
  rule: string;
  /** The time zone of `date` and `time`. */
  timeZone: string;
}

/**
 * The values of every field for one transaction.
 *
 * @param context The transaction, account name, event, rule and time zone.
 * @returns The values by field name.
 */
export function templateValues(context: TemplateContext): Record<string, string> {
  const { attributes, relationships, id } = context.transaction;
  const cents = attributes.amount.valueInBaseUnits;
  const created = new Date(Date.parse(attributes.createdAt));
  const local = localDateTime(created, context.timeZone);
  return {
    description: attributes.description,
    amount: formatDollars(Math.abs(cents)),
    signed_amount: formatDollars(cents),
    currency: attributes.amount.currencyCode,
    account: context.accountName ?? relationships.account.data.id,
    category: relationships.category.data?.id ?? "",
    parent_category: relationships.parentCategory.data?.id ?? "",
    status: attributes.status,
    event: context.event,
    rule: context.rule,
    date: local.day,
    time: local.time,
    id,
    message: attributes.message ?? "",
    raw_text: attributes.rawText ?? "",
    deep_link: deepLink(context.transaction) ?? "",
  };
}

/**
 * The transaction's `deepLinkURL` (newer Up API versions give one; the published spec does not).
 *
 * @param transaction The transaction.
 * @returns The URL, or `undefined`.
 */
export function deepLink(transaction: TransactionResource): string | undefined {
  const value = (transaction.attributes as { deepLinkURL?: unknown }).deepLinkURL;
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Fills a template.
 *
 * @param template The template, checked by the rules reader.
 * @param values The values by field name.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { renderTemplate } from "./template.ts";
 * if (renderTemplate("{{amount}} at {{description}}", { amount: "$5.00", description: "Bar" }) !== "$5.00 at Bar") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_, field: string) => values[field] ?? "");
}

/**
 * @module Rule matching
 * Whether a rule's conditions hold for a transaction at an event. Pure: the notify consumer
 * decides which events happened (first seen, seen settled, deleted) and keeps the state.
 */
import type { TransactionResource } from "../../up/types.ts";
import type { Rule, RuleEvent } from "./rules.ts";

/**
 * Whether `rule` fires for `transaction` at `event`.
 *
 * @param rule The rule.
 * @param event What happened.
 * @param transaction The transaction (its last known state, for `deleted`).
 * @param accountName The account's display name, when known.
 * @returns Whether every condition holds and the rule fires on this event.
 *
 * @example
 * ```ts ignore
 * import { ruleMatches } from "./match.ts";
 * ruleMatches(rule, "created", transaction, "Spending");
 * ```
 */
export function ruleMatches(
  rule: Rule,
  event: RuleEvent,
  transaction: TransactionResource,
  accountName?: string,
): boolean {
  if (!rule.on.includes(event)) return false;
  const { match } = rule;
  const { attributes, relationships } = transaction;
  const cents = attributes.amount.valueInBaseUnits;
  const abs = Math.abs(cents);
  if (match.accounts !== undefined) {
    const id = relationships.account.data.id;
    if (!match.accounts.some((account) => account === id || account === accountName)) {
      return false;
    }
  }
  if (match.direction === "out" && cents >= 0) return false;
  if (match.direction === "in" && cents <= 0) return false;
  if (match.minCents !== undefined && abs < match.minCents) return false;
  if (match.maxCents !== undefined && abs > match.maxCents) return false;
  if (match.categories !== undefined) {
    const ids = [relationships.category.data?.id, relationships.parentCategory.data?.id];
    if (!match.categories.some((category) => ids.includes(category))) return false;
  }
  if (match.pattern !== undefined) {
    const texts = [attributes.description, attributes.rawText ?? ""];
    if (!texts.some((text) => match.pattern!.test(text))) return false;
  }
  if (match.status !== undefined && attributes.status.toLowerCase() !== match.status) return false;
  if (match.roundUp !== undefined && (attributes.roundUp !== null) !== match.roundUp) return false;
  if (match.transfer !== undefined) {
    const transfer = relationships.transferAccount.data !== null;
    if (match.transfer === "none" && transfer) return false;
    if (match.transfer !== "none" && !transfer) return false;
    if (match.transfer === "out" && cents >= 0) return false;
    if (match.transfer === "in" && cents <= 0) return false;
  }
  return true;
}

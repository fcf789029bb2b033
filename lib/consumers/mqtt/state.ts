/**
 * @module Account state payloads
 * The retained state of one account, as its sensors read it: balance, held amount, spent today
 * and this month, all from the position consumer's {@linkcode Position} (so they equal the
 * dashboard's), in the account's currency units, with the starts of the day and month in the
 * time zone (the spend sensors' `last_reset`).
 */
import { startOfDayIn } from "../../runtime/dates.ts";
import type { Position } from "../position/position.ts";

/** One account's state payload. */
export interface AccountState {
  /** The balance, e.g. `1234.56`. */
  balance: number;
  /** The held (not yet settled) part of it, negative for held payments. */
  held: number;
  /** Purchases today (transfers excluded), positive. */
  spent_today: number;
  /** Purchases since the first of the month, positive. */
  spent_month: number;
  /** The account's currency, e.g. `AUD`. */
  currency: string;
  /** When today began in the time zone, ISO 8601 with offset. */
  today_start: string;
  /** When this month began in the time zone, ISO 8601 with offset. */
  month_start: string;
}

/**
 * One account's state, or `null` while its balance is not known (before the first
 * reconciliation with `GET /accounts`): a monetary sensor must never get a non-number.
 *
 * @param position The position.
 * @param accountId The account.
 * @param options The account's currency and the time zone.
 * @returns The payload, or `null`.
 */
export function accountState(
  position: Position,
  accountId: string,
  options: { currency: string; timeZone: string },
): AccountState | null {
  const account = position.accounts().find((candidate) => candidate.accountId === accountId);
  if (account === undefined || account.balanceCents === null) return null;
  const spend = position.spend({ accountId });
  const sum = (byCategory: Record<string, number>) =>
    Object.values(byCategory).reduce((total, cents) => total + cents, 0);
  const today = position.lastDays(1)[0];
  return {
    balance: account.balanceCents / 100,
    held: account.heldCents / 100,
    spent_today: sum(spend.today) / 100,
    spent_month: sum(spend.month) / 100,
    currency: options.currency,
    today_start: startOfDayIn(today, options.timeZone),
    month_start: startOfDayIn(`${today.slice(0, 7)}-01`, options.timeZone),
  };
}

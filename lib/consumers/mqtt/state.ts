/**
 * @module Account state payloads
 * The retained state of one account, as its sensors read it: balance, held amount, spent today
 * and this month, all from the position consumer's {@linkcode Position} (so they equal the
 * dashboard's), in the account's currency units, with the starts of the day and month in the
 * time zone (the spend sensors' `last_reset`).
 */
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

/** The offset of a time zone from UTC at an instant, in ms (Sydney in summer: +11 h). */
function offsetMs(instant: number, timeZone: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(instant).map((part) => [part.type, part.value]),
  );
  const local = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return local - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant a local day began, as ISO 8601 with the zone's offset.
 *
 * @param day The day, `YYYY-MM-DD`.
 * @param timeZone The time zone.
 * @returns e.g. `2026-12-07T00:00:00+11:00`.
 *
 * @example
 * ```ts
 * import { startOfDay } from "./state.ts";
 * if (startOfDay("2026-07-01", "Australia/Sydney") !== "2026-07-01T00:00:00+10:00") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function startOfDay(day: string, timeZone: string): string {
  const [year, month, date] = day.split("-").map(Number);
  const midnightUtc = Date.UTC(year, month - 1, date);
  let instant = midnightUtc - offsetMs(midnightUtc, timeZone);
  instant = midnightUtc - offsetMs(instant, timeZone);
  const offset = offsetMs(instant, timeZone) / 60_000;
  const sign = offset < 0 ? "-" : "+";
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0");
  const minutes = String(Math.abs(offset) % 60).padStart(2, "0");
  return `${day}T00:00:00${sign}${hours}:${minutes}`;
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
    today_start: startOfDay(today, options.timeZone),
    month_start: startOfDay(`${today.slice(0, 7)}-01`, options.timeZone),
  };
}

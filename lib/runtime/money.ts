/**
 * @module Money
 * Cents as people and tools read them, on `Intl.NumberFormat`: `$1,234.50` for what a person
 * reads (console, notifications, the dashboard's server-side charts), `-1234.50` for a journal.
 * A minus for a negative amount, never for zero.
 */

const DOLLARS = new Intl.NumberFormat("en-AU", {
  style: "currency",
  currency: "AUD",
  currencyDisplay: "narrowSymbol",
  signDisplay: "negative",
});

const DECIMAL = new Intl.NumberFormat("en-AU", {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  useGrouping: false,
  signDisplay: "negative",
});

/**
 * Money as people write it: a dollar sign, thousands separated, two decimals.
 *
 * @param cents Whole cents, signed.
 * @returns e.g. `$1,234.50`, `-$12.05`, `$0.00`.
 *
 * @example
 * ```ts
 * import { formatDollars } from "./money.ts";
 * if (formatDollars(123450) !== "$1,234.50") throw new Error(formatDollars(123450));
 * if (formatDollars(-1205) !== "-$12.05") throw new Error(formatDollars(-1205));
 * ```
 */
export function formatDollars(cents: number): string {
  return DOLLARS.format(cents / 100);
}

/**
 * Money as a journal writes it: two decimals, no symbol, no separators.
 *
 * @param cents Whole cents, signed.
 * @returns e.g. `-1234.50`, `0.00`.
 *
 * @example
 * ```ts
 * import { formatDecimal } from "./money.ts";
 * if (formatDecimal(-123450) !== "-1234.50") throw new Error(formatDecimal(-123450));
 * ```
 */
export function formatDecimal(cents: number): string {
  return DECIMAL.format(cents / 100);
}

/**
 * Up's date-time format: RFC 3339 (`format: date-time` in Up's OpenAPI spec), the format that
 * CloudEvents' `time` requires as well.
 *
 * @module
 */

/** RFC 3339's `date-time` (section 5.6): a date, `T`, a time and a UTC offset (`Z` or `±hh:mm`). */
const RFC3339 =
  /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i;

/**
 * Whether a string is an RFC 3339 date-time, as Up's spec (`format: date-time`) and CloudEvents'
 * `time` require: with a UTC offset, and a day that exists.
 *
 * @param value The string.
 * @returns `true` for `2024-08-05T12:20:07+10:00`, `false` for `2024-08-05T12:20:07`.
 *
 * @example
 * ```ts
 * import { isRfc3339DateTime } from "./date_time.ts";
 * if (!isRfc3339DateTime("2024-08-05T12:20:07+10:00")) throw new Error("unexpected");
 * if (isRfc3339DateTime("2024-08-05T12:20:07")) throw new Error("no offset");
 * ```
 */
export function isRfc3339DateTime(value: string): boolean {
  const match = RFC3339.exec(value);
  if (match === null) return false;
  const [, year, month, day] = match.map(Number);
  // A day past the month's end (2024-02-30) matches the pattern; the calendar decides.
  return new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
}

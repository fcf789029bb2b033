/**
 * @module Dates on the command line
 * What a date a person types means: `2024-01-01` is the start of that day where they live (the
 * `TZ` setting, `Australia/Sydney` by default: the zone of position, the dashboard and Actual),
 * not midnight UTC, ten or eleven hours into the Sydney day. A full RFC 3339 timestamp
 * (`2024-01-01T09:30:00+11:00`, `2024-01-01T00:00:00Z`) is the instant it names. Computed with
 * `Temporal` (built into Deno 2.9, no flag).
 */

/** The time zone a date means when none is set (`TZ`). */
export const DEFAULT_TIME_ZONE = "Australia/Sydney";

const PLAIN_DATE = /^\d{4}-\d{2}-\d{2}$/;
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Options for {@linkcode parseDateArg}. */
export interface DateArgOptions {
  /** The flag the value came from, for the error message, e.g. `--since`. */
  flag: string;
  /** The IANA zone a plain date is a day of. Default {@linkcode DEFAULT_TIME_ZONE}. */
  timeZone?: string;
}

/**
 * Reads a date argument: a plain date is the start of that day in `timeZone` (the first instant
 * of it, even on a day that starts at 01:00 after a daylight-saving change); an RFC 3339
 * timestamp with its offset passes through as given.
 *
 * @param value What the person typed.
 * @param options The flag's name and the time zone.
 * @returns The instant (milliseconds: a finer fraction of a second is cut).
 * @throws {RangeError} Naming the flag, the value and the accepted forms, for anything else.
 *
 * @example
 * ```ts
 * import { parseDateArg } from "./dates.ts";
 * const since = parseDateArg("2024-01-01", { flag: "--since", timeZone: "Australia/Sydney" });
 * if (since.toISOString() !== "2023-12-31T13:00:00.000Z") throw new Error(since.toISOString());
 * const exact = parseDateArg("2024-01-01T09:30:00+11:00", { flag: "--since" });
 * if (exact.toISOString() !== "2023-12-31T22:30:00.000Z") throw new Error(exact.toISOString());
 * ```
 */
export function parseDateArg(value: string, options: DateArgOptions): Date {
  const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
  const text = value.trim();
  try {
    if (PLAIN_DATE.test(text)) {
      const day = Temporal.PlainDate.from(text, { overflow: "reject" });
      return new Date(day.toZonedDateTime({ timeZone }).epochMilliseconds);
    }
    if (RFC_3339.test(text)) {
      return new Date(Temporal.Instant.from(text).epochMilliseconds);
    }
  } catch {
    // A day or an hour out of range: the same message below.
  }
  throw new RangeError(
    `${options.flag} is "${value}", expected a date such as 2024-01-01 (the start of that day in ${timeZone}, set by TZ) or an RFC 3339 timestamp such as 2024-01-01T09:30:00+11:00`,
  );
}

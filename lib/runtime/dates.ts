/**
 * @module Dates on the command line
 * What a date a person types means: `2024-01-01` is the start of that day where they live (the
 * `TZ` setting, `Australia/Sydney` by default: the zone of position, the dashboard and Actual),
 * not midnight UTC, ten or eleven hours into the Sydney day. A full RFC 3339 timestamp
 * (`2024-01-01T09:30:00+11:00`, `2024-01-01T00:00:00Z`) is the instant it names. Computed with
 * `Temporal` (built into Deno 2.9, no flag). And the other way, what day (and time of day) an
 * instant falls on in a zone: the one place position, the dashboard, ledger, notify, console,
 * Actual and MQTT take "the user's day" from.
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

/** A local day and time of day: `{ day: "2026-12-01", time: "09:05" }`. */
export interface LocalDateTime {
  /** The day, `YYYY-MM-DD`. */
  day: string;
  /** The time of day, `HH:MM`, 24-hour. */
  time: string;
}

/** One formatter per zone: making an `Intl.DateTimeFormat` costs far more than using one. */
const FORMATTERS = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = FORMATTERS.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    FORMATTERS.set(timeZone, formatter);
  }
  return formatter;
}

/**
 * The day and time of day an instant falls on in a time zone.
 *
 * @param instant Epoch milliseconds, a `Date`, or an RFC 3339 timestamp (Up's `createdAt`).
 * @param timeZone The IANA zone. Default {@linkcode DEFAULT_TIME_ZONE}.
 * @returns The local day and `HH:MM`.
 * @throws {RangeError} If the zone is not an IANA time zone.
 *
 * @example
 * ```ts
 * import { localDateTime } from "./dates.ts";
 * const { day, time } = localDateTime("2026-12-01T13:30:00Z", "Australia/Sydney");
 * if (day !== "2026-12-02" || time !== "00:30") throw new Error(`${day} ${time}`);
 * ```
 */
export function localDateTime(
  instant: number | Date | string,
  timeZone: string = DEFAULT_TIME_ZONE,
): LocalDateTime {
  const ms = typeof instant === "string" ? Date.parse(instant) : Number(instant);
  const parts: Record<string, string> = {};
  for (const part of formatterOf(timeZone).formatToParts(ms)) parts[part.type] = part.value;
  return {
    day: `${parts.year}-${parts.month}-${parts.day}`,
    time: `${parts.hour}:${parts.minute}`,
  };
}

/**
 * The user's day of an instant: the day it falls on in a time zone.
 *
 * @param instant Epoch milliseconds, a `Date`, or an RFC 3339 timestamp (Up's `createdAt`).
 * @param timeZone The IANA zone. Default {@linkcode DEFAULT_TIME_ZONE}.
 * @returns The day, `YYYY-MM-DD`.
 * @throws {RangeError} If the zone is not an IANA time zone.
 *
 * @example
 * ```ts
 * import { dayInZone } from "./dates.ts";
 * if (dayInZone("2026-12-01T13:30:00Z") !== "2026-12-02") throw new Error("unexpected");
 * if (dayInZone("2026-12-01T13:30:00Z", "UTC") !== "2026-12-01") throw new Error("unexpected");
 * ```
 */
export function dayInZone(
  instant: number | Date | string,
  timeZone: string = DEFAULT_TIME_ZONE,
): string {
  return localDateTime(instant, timeZone).day;
}

/**
 * When a local day began, as RFC 3339 with the zone's offset then (the first instant of the day,
 * even where a daylight-saving change skips midnight).
 *
 * @param day The day, `YYYY-MM-DD`.
 * @param timeZone The IANA zone. Default {@linkcode DEFAULT_TIME_ZONE}.
 * @returns e.g. `2026-07-01T00:00:00+10:00`.
 * @throws {RangeError} If the day or the zone is not valid.
 *
 * @example
 * ```ts
 * import { startOfDayIn } from "./dates.ts";
 * const start = startOfDayIn("2026-07-01", "Australia/Sydney");
 * if (start !== "2026-07-01T00:00:00+10:00") throw new Error(start);
 * ```
 */
export function startOfDayIn(day: string, timeZone: string = DEFAULT_TIME_ZONE): string {
  return Temporal.PlainDate.from(day, { overflow: "reject" })
    .toZonedDateTime({ timeZone })
    .toString({ timeZoneName: "never" });
}

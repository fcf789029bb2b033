/**
 * Command-line flags: `node:util` parseArgs in strict mode, with every mistake turned into a
 * {@linkcode UsageError} (usage printed, exit code 2), and whole-number flags checked alike.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "./command.ts";
import { parseDateArg } from "../runtime/dates.ts";

/** What {@linkcode parseFlags} returns for the flags `O`: `{ values, positionals }`. */
export type ParsedFlags<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>
>;

/**
 * Parses flags strictly: unknown flags and missing values are usage errors.
 *
 * @param args The arguments after the command name.
 * @param options The flags, as for `parseArgs`.
 * @param config `positionals`: whether bare words are allowed (default false).
 * @returns `{ values, positionals }`.
 * @throws {UsageError} If the arguments do not fit.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./args.ts";
 * const { values } = parseFlags(["--json"], { json: { type: "boolean" } });
 * if (values.json !== true) throw new Error("unexpected");
 * ```
 */
export function parseFlags<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  config: { positionals?: boolean } = {},
): ParsedFlags<O> {
  try {
    return parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: config.positionals ?? false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Options for {@linkcode wholeNumber}. */
export interface WholeNumberOptions {
  /** The flag's name without dashes, for the message. */
  flag: string;
  /** The value when the flag is absent. */
  fallback: number;
  /** Smallest accepted value; default 0. */
  min?: number;
  /** Largest accepted value. */
  max: number;
}

/**
 * Reads a whole-number flag.
 *
 * @param value The flag's text, or `undefined` when absent.
 * @param options Name, default and range.
 * @returns The number.
 * @throws {UsageError} If the text is not a whole number in range.
 *
 * @example
 * ```ts
 * import { wholeNumber } from "./args.ts";
 * if (wholeNumber("30", { flag: "timeout", fallback: 15, max: 3600 }) !== 30) throw new Error();
 * ```
 */
export function wholeNumber(value: string | undefined, options: WholeNumberOptions): number {
  if (value === undefined) return options.fallback;
  const min = options.min ?? 0;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > options.max) {
    throw new UsageError(
      `--${options.flag} is "${value}", expected a whole number from ${min} to ${options.max}`,
    );
  }
  return Number(value);
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Reads a duration such as `500ms`, `5s`, `2m` or `1h` (a bare number is seconds).
 *
 * @param value The text.
 * @param flag The flag's name without dashes, for the message.
 * @returns Milliseconds.
 * @throws {UsageError} If the text is not a duration.
 *
 * @example
 * ```ts
 * import { durationMs } from "./args.ts";
 * if (durationMs("2m", "give-up") !== 120_000) throw new Error("unexpected");
 * ```
 */
export function durationMs(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (match === null) {
    throw new UsageError(
      `--${flag} is "${value}", expected a duration such as 500ms, 5s, 2m or 1h`,
    );
  }
  return Math.round(Number(match[1]) * UNITS_MS[match[2] ?? "s"]);
}

/**
 * Reads a date flag (`--since`, `--until`): a plain date is the start of that day in the time
 * zone, an RFC 3339 timestamp the instant it names (`parseDateArg` of lib/runtime/dates.ts).
 *
 * @param value The flag's text, or `undefined` when it was not given.
 * @param flag The flag's name without dashes, for the message.
 * @param timeZone The zone of a plain date (`TZ`).
 * @returns The instant, or `undefined` when the flag was not given.
 * @throws {UsageError} If it is neither form.
 *
 * @example
 * ```ts
 * import { dateFlag } from "./args.ts";
 * const at = dateFlag("2026-12-07", "since", "Australia/Sydney");
 * if (at?.toISOString() !== "2026-12-06T13:00:00.000Z") throw new Error(String(at));
 * ```
 */
export function dateFlag(
  value: string | undefined,
  flag: string,
  timeZone: string,
): Date | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDateArg(value, { flag: `--${flag}`, timeZone });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

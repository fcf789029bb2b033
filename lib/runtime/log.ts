/**
 * Structured log lines on stderr, one per line: readable text (`12:04:05 INFO  listening
 * url=...`) when stderr is a terminal, JSON objects otherwise (`LOG_FORMAT` chooses). Callers
 * pass facts, never secrets: fields named like a secret are replaced with `[redacted]` as a
 * second line of defence.
 *
 * Lines go straight to stderr, not through `console`: under load the service logs every event,
 * and `console.error` cost 2-3 times a direct write. `debug` and `info` lines written in one turn
 * of the event loop (the events of one store commit) leave in one write, at the end of that turn;
 * `warn` and `error` lines leave at once, with anything before them.
 *
 * @module
 */
/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level name. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Log line formats: `text` for people, `json` for machines. */
export const LOG_FORMATS = ["text", "json"] as const;

/** A log format name. */
export type LogFormat = typeof LOG_FORMATS[number];

/**
 * Reads `LOG_FORMAT`.
 *
 * @param raw The variable's value, or `undefined` when unset.
 * @returns The format, or `undefined` when unset or blank (the terminal decides).
 * @throws {RangeError} If it is neither `text` nor `json`.
 *
 * @example
 * ```ts
 * import { readLogFormat } from "./log.ts";
 * if (readLogFormat(" JSON ") !== "json" || readLogFormat("") !== undefined) throw new Error();
 * ```
 */
export function readLogFormat(raw: string | undefined): LogFormat | undefined {
  const text = raw?.trim().toLowerCase();
  if (!text) return undefined;
  if (!(LOG_FORMATS as readonly string[]).includes(text)) {
    throw new RangeError(
      `Cannot load config: LOG_FORMAT is "${text}", expected one of ${LOG_FORMATS.join(", ")}`,
    );
  }
  return text as LogFormat;
}

/** Extra facts for one log line. */
export type LogFields = Record<string, unknown>;

/** Writes structured log lines. */
export interface Logger {
  /** Logs a line at `debug` level. */
  debug(message: string, fields?: LogFields): void;
  /** Logs a line at `info` level. */
  info(message: string, fields?: LogFields): void;
  /** Logs a line at `warn` level. */
  warn(message: string, fields?: LogFields): void;
  /** Logs a line at `error` level. */
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields`. */
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const encoder = new TextEncoder();
let pending = "";
let flushQueued = false;

/** Writes the lines held so far to stderr. */
export function flushLog(): void {
  flushQueued = false;
  if (pending === "") return;
  const bytes = encoder.encode(pending);
  pending = "";
  try {
    for (let offset = 0; offset < bytes.length;) {
      offset += Deno.stderr.writeSync(bytes.subarray(offset));
    }
  } catch { /* stderr is closed: there is nobody left to tell */ }
}

/** The default sink: stderr, one write per turn of the event loop, at once for warn and error. */
function writeStderr(line: string, level: LogLevel): void {
  pending += `${line}\n`;
  if (RANK[level] >= RANK.warn) flushLog();
  else if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(flushLog);
  }
}
globalThis.addEventListener?.("unload", flushLog);
const SECRET_FIELD = /secret|token|signature|authorization|password|sasl/i;

function redact(fields: LogFields): LogFields {
  const clean: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    clean[key] = SECRET_FIELD.test(key) ? "[redacted]" : value;
  }
  return clean;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Least severe level written; default `info`. */
  level?: LogLevel;
  /** Where lines go; default stderr (see the module doc). Tests pass a collector. */
  write?: (line: string) => void;
  /** Fields on every line; default none. */
  fields?: LogFields;
  /** The clock; default `() => new Date()`. */
  now?: () => Date;
  /** `text` or `json`; default {@linkcode defaultLogFormat} on stderr, `json` with `write`. */
  format?: LogFormat;
}

/**
 * The format for people when stderr is a terminal, for machines otherwise.
 *
 * @returns `text` on a terminal, else `json`.
 *
 * @example
 * ```ts
 * import { defaultLogFormat } from "./log.ts";
 * if (!["text", "json"].includes(defaultLogFormat())) throw new Error("unexpected");
 * ```
 */
export function defaultLogFormat(): LogFormat {
  try {
    return Deno.stderr.isTerminal() ? "text" : "json";
  } catch {
    return "json";
  }
}

const PLAIN = /^[^\s"=]+$/;

function textValue(value: unknown): string {
  if (typeof value === "string" && PLAIN.test(value)) return value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

function twoDigits(value: number): string {
  return String(value).padStart(2, "0");
}

/** One line for people: local time, level, message, then `key=value` facts. */
function textLine(time: Date, level: LogLevel, message: string, fields: LogFields): string {
  const clock = `${twoDigits(time.getHours())}:${twoDigits(time.getMinutes())}:${
    twoDigits(time.getSeconds())
  }`;
  const facts = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}=${textValue(value)}`)
    .join("");
  return `${clock} ${level.toUpperCase().padEnd(5)} ${message}${facts}`;
}

/**
 * Creates a logger.
 *
 * @param options Level, sink, common fields, clock and format.
 * @returns The logger.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * createLogger({ write: (line) => lines.push(line) }).info("started", { port: 8080, secret: "x" });
 * if (JSON.parse(lines[0]).secret !== "[redacted]") throw new Error("unexpected");
 * createLogger({ format: "text", write: (line) => lines.push(line) }).warn("slow", { ms: 5 });
 * if (!/^\d\d:\d\d:\d\d WARN  slow ms=5$/.test(lines[1])) throw new Error(lines[1]);
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const write = options.write;
  const now = options.now ?? (() => new Date());
  const base = redact(options.fields ?? {});
  // A sink of the caller's own (a test's collector) gets JSON unless told otherwise.
  const format = options.format ?? (options.write ? "json" : defaultLogFormat());
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (RANK[level] < threshold) return;
    const time = now();
    const facts = { ...base, ...redact(fields) };
    const line = format === "text"
      ? textLine(time, level, message, facts)
      : JSON.stringify({ time: time.toISOString(), level, msg: message, ...facts });
    if (write === undefined) writeStderr(line, level);
    else write(line);
  };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: (fields) => createLogger({ ...options, format, fields: { ...base, ...fields } }),
  };
}

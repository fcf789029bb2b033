/**
 * kafkajs's log lines folded into upbus's logger: while a broker is unreachable, one line when
 * the connection is lost and one when it is back (with how long it was down) instead of a line
 * per attempt; no stack traces; no second timestamp. Also silences kafkajs's harmless
 * `TimeoutNegativeWarning` (see {@linkcode silenceTimeoutNegativeWarning}).
 *
 * @module
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import { type logCreator, logLevel } from "kafkajs";
import process from "node:process";
import type { Logger } from "../../runtime/log.ts";

/** What kafkajs reports when it cannot reach or lost a broker. */
const CONNECTION_TROUBLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EPIPE|Connection (error|timeout)|Failed to connect|Closed connection|not connected|KafkaJSConnection|socket hang up/i;

/**
 * kafkajs errors that kafkajs itself recovers from, or hands to upbus as an error it logs:
 * a broker's error answer (`Response Metadata(...)`: a topic not yet known everywhere, a
 * coordinator loading, a topic that exists already), and a consumer re-joining its group.
 */
const HANDLED_BY_KAFKAJS = /^Response |re-joining the group|^Restarting the consumer/;

/** How long a consumer crash waits for kafkajs to say it restarts the consumer. */
const RESTART_NOTICE_MS = 10_000;

/** Fields of a kafkajs line that upbus's own line already carries, or that belong in no log. */
const DROPPED_FIELDS = new Set(["timestamp", "logger", "message", "stack"]);

/** The part of kafkajs's root logger the router drives. */
export interface KafkaRootLogger {
  /** Sets which kafkajs lines are made at all (`logLevel.DEBUG` while a broker is away). */
  setLogLevel(level: logLevel): void;
}

/** Options for {@linkcode kafkaLogRouter}. */
export interface KafkaLogRouterOptions {
  /** The clock, epoch milliseconds; default `Date.now`. */
  now?: () => number;
  /** How long a consumer crash waits for kafkajs to restart the consumer before it is a
   * warning, in ms; default 10000. */
  restartNoticeMs?: number;
}

/** A kafkajs `logCreator` and the hook that lets it watch for the connection's return. */
export interface KafkaLogRouter {
  /** Pass as `logCreator` to `new Kafka(...)`. */
  logCreator: logCreator;
  /**
   * Gives the router kafkajs's root logger (`kafka.logger()`): while a broker is unreachable
   * it lowers kafkajs's level to DEBUG to see the first answer, then raises it back.
   */
  attach(root: KafkaRootLogger): void;
  /** Whether a broker is unreachable now, as far as kafkajs's lines tell. */
  readonly down: boolean;
}

function facts(log: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(log)) {
    if (!DROPPED_FIELDS.has(key) && value !== undefined) kept[key] = value;
  }
  return kept;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Routes kafkajs's log lines to `logger`.
 *
 * - An error about a connection starts an outage: one warning that names the broker and the
 *   cause. Until a broker answers again, kafkajs's errors (retries, crashes and restarts that
 *   follow from it) are counted, not written.
 * - The first answer from a broker ends it: one info line with how long it lasted.
 * - Errors kafkajs recovers from (a broker's error answer, a consumer that crashed and is
 *   restarted) are debug lines; a consumer crash that is not followed by a restart is a
 *   warning. Other errors are warnings, without stack traces; kafkajs's info and warn lines are
 *   debug lines.
 *
 * @param logger Where lines go; `undefined` drops them.
 * @param options The clock.
 * @returns The router.
 *
 * @example
 * ```ts
 * import { logLevel } from "kafkajs";
 * import { createLogger } from "../../runtime/log.ts";
 * import { kafkaLogRouter } from "./log_creator.ts";
 * const lines: string[] = [];
 * const router = kafkaLogRouter(createLogger({ format: "json", write: (l) => lines.push(l) }));
 * const log = router.logCreator(logLevel.INFO);
 * const error = (message: string) =>
 *   log({
 *     namespace: "Connection",
 *     level: logLevel.ERROR,
 *     label: "ERROR",
 *     log: { timestamp: "", logger: "kafkajs", message, broker: "127.0.0.1:9092" },
 *   });
 * for (let i = 0; i < 5; i++) error("Connection error: connect ECONNREFUSED 127.0.0.1:9092");
 * if (lines.length !== 1 || !router.down) throw new Error(lines.join("\n"));
 * ```
 */
export function kafkaLogRouter(
  logger: Logger | undefined,
  options: KafkaLogRouterOptions = {},
): KafkaLogRouter {
  const now = options.now ?? Date.now;
  const restartNoticeMs = options.restartNoticeMs ?? RESTART_NOTICE_MS;
  let root: KafkaRootLogger | undefined;
  let outage: { since: number; broker?: unknown; suppressed: number } | undefined;
  /** Consumer crashes waiting for kafkajs's "Restarting the consumer", by group. */
  const crashes = new Map<unknown, ReturnType<typeof setTimeout>>();
  const router: KafkaLogRouter = {
    logCreator: () => ({ level, log }) => {
      const { message } = log;
      const fields = facts(log);
      if (outage !== undefined) {
        if (level === logLevel.DEBUG && message.startsWith("Response ")) {
          logger?.info("Kafka answers again", {
            broker: fields.broker ?? outage.broker,
            downFor: seconds(now() - outage.since),
            linesFolded: outage.suppressed,
          });
          outage = undefined;
          root?.setLogLevel(logLevel.INFO);
        } else if (level === logLevel.ERROR) {
          outage.suppressed++;
        }
        return;
      }
      if (level === logLevel.ERROR && CONNECTION_TROUBLE.test(`${message} ${fields.error ?? ""}`)) {
        outage = { since: now(), broker: fields.broker, suppressed: 0 };
        logger?.warn(
          "cannot reach Kafka; kafkajs and upbus keep retrying, and a line will say when it answers again",
          { broker: fields.broker, cause: message },
        );
        root?.setLogLevel(logLevel.DEBUG);
        return;
      }
      if (logger === undefined || level === logLevel.DEBUG) return;
      if (level !== logLevel.ERROR || HANDLED_BY_KAFKAJS.test(message)) {
        if (message.startsWith("Restarting the consumer")) {
          clearTimeout(crashes.get(fields.groupId));
          crashes.delete(fields.groupId);
        }
        logger.debug(`kafkajs: ${message}`, fields);
      } else if (message.startsWith("Crash: ")) {
        logger.debug(`kafkajs: ${message}`, fields);
        clearTimeout(crashes.get(fields.groupId));
        const timer = setTimeout(() => {
          crashes.delete(fields.groupId);
          logger.warn(`kafkajs: the consumer stopped after ${message}`, fields);
        }, restartNoticeMs);
        Deno.unrefTimer(timer);
        crashes.set(fields.groupId, timer);
      } else {
        logger.warn(`kafkajs: ${message}`, fields);
      }
    },
    attach(rootLogger) {
      root = rootLogger;
    },
    get down() {
      return outage !== undefined;
    },
  };
  return router;
}

let silenced = false;

/**
 * Drops Node's `TimeoutNegativeWarning` that kafkajs causes under Deno, and keeps every other
 * process warning as it was.
 *
 * The cause: kafkajs's `RequestQueue.scheduleCheckPendingRequests` computes
 * `this.throttledUntil - Date.now()`, and `throttledUntil` is `-1` when the broker has not
 * throttled the client, so it passes about minus the current epoch time to `setTimeout`. Node's
 * timers (which npm packages get under Deno too) then wait 1 ms and emit the warning: harmless,
 * but printed on every Kafka command. Node's default `warning` listener is replaced by one that
 * skips this warning and hands the others to it.
 */
export function silenceTimeoutNegativeWarning(): void {
  if (silenced) return;
  silenced = true;
  const listeners = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", function skipTimeoutNegativeWarning(warning: Error) {
    if (warning.name === "TimeoutNegativeWarning") return;
    for (const listener of listeners) listener(warning);
  });
}

/**
 * Refusal log: log lines for refused requests and connections that an attacker cannot multiply.
 * The first refusal of a reason is logged at once (warn); the rest of a burst are summed and
 * logged as one line per reason per interval; each refusal on its own is a debug line.
 *
 * @module
 */
import type { LogFields, Logger } from "../runtime/log.ts";

/** Options for {@linkcode createRefusalLog}. */
export interface RefusalLogOptions {
  /** Where the summaries are written. */
  logger: Logger;
  /** How long one summary covers, in ms; default 60000. Sets the wording of the lines only:
   * the caller calls `summarize()` that often. */
  intervalMs?: number;
  /** Monotonic clock in ms; default `performance.now`. */
  now?: () => number;
}

/** Logs refusals without letting their number decide the number of lines. */
export interface RefusalLog {
  /**
   * Records one refusal: a warn line if it is the first of its reason since that reason was last
   * quiet for a whole interval, else a debug line and a count for the next summary.
   *
   * @param reason A short stable name (`signature_mismatch`, `headers_timeout`, ...).
   * @param fields Facts about this refusal (status, client address); never secrets.
   */
  record(reason: string, fields?: LogFields): void;
  /** Writes one warn line per reason refused since the last call (with the count), and forgets
   * reasons that were quiet for a whole interval, so their next refusal is logged at once. */
  summarize(): void;
}

interface ReasonState {
  /** Refusals since the last line about this reason. */
  pending: number;
  /** Whether any refusal came since the last summary. */
  active: boolean;
  /** When counting for the next summary started. */
  since: number;
}

/**
 * Creates a refusal log.
 *
 * @param options Logger, interval and clock.
 * @returns The log; call `summarize()` every `intervalMs` (and at shutdown).
 *
 * @example
 * ```ts
 * import { createLogger } from "../runtime/log.ts";
 * import { createRefusalLog } from "./refusal_log.ts";
 * const lines: string[] = [];
 * const refusals = createRefusalLog({ logger: createLogger({ write: (l) => lines.push(l) }) });
 * for (let i = 0; i < 1000; i++) refusals.record("signature_mismatch", { status: 401 });
 * refusals.summarize();
 * if (lines.length !== 2) throw new Error("unexpected");
 * if (JSON.parse(lines[1]).count !== 999) throw new Error("unexpected");
 * ```
 */
export function createRefusalLog(options: RefusalLogOptions): RefusalLog {
  const { logger } = options;
  const intervalMs = options.intervalMs ?? 60_000;
  const now = options.now ?? (() => performance.now());
  const reasons = new Map<string, ReasonState>();
  return {
    record(reason, fields = {}) {
      const state = reasons.get(reason);
      if (state === undefined) {
        reasons.set(reason, { pending: 0, active: true, since: now() });
        logger.warn("request refused", {
          reason,
          ...fields,
          next: `further refusals for this reason are counted and logged once per ${
            Math.round(intervalMs / 1000)
          } s`,
        });
        return;
      }
      state.pending++;
      state.active = true;
      logger.debug("request refused", { reason, ...fields });
    },
    summarize() {
      const at = now();
      for (const [reason, state] of reasons) {
        if (state.pending > 0) {
          logger.warn("requests refused", {
            reason,
            count: state.pending,
            seconds: Math.round((at - state.since) / 100) / 10,
          });
        }
        if (!state.active) reasons.delete(reason);
        else Object.assign(state, { pending: 0, active: false, since: at });
      }
    },
  };
}

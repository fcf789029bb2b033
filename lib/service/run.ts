/**
 * @module Stage supervisor
 * Runs one stage of the pipeline (`enrich`, `consume position`, ...) inside `upbus run` and starts
 * it again, after a doubling backoff, whenever it throws or ends before it was asked to stop, so
 * one failing stage never takes the others down. Nothing is lost by a restart: each stage commits
 * its position only after a record is handled, as when it runs as its own command.
 */
import type { Logger } from "../runtime/log.ts";

/**
 * One start of a stage, as `startEnrichStage` and `startConsumeStage` (lib/cli) return it: the
 * separate commands wait for a signal and stop it; `upbus run` also watches `failed`.
 */
export interface RunningStage {
  /** Resolves with the error that ended it while it ran; the caller then stops it. */
  failed: Promise<Error>;
  /** Its counts since this start: `handled` records, handler `failures`, and its own. */
  stats(): Record<string, number>;
  /** Prometheus text of its own figures, if it has any (the position's gauges). */
  metrics?(): string;
  /** Stops it and releases what it holds (files, ports, connections). */
  stop(): Promise<void>;
}

/** Options for {@linkcode superviseStage}. */
export interface SuperviseOptions {
  /** The stage's name, for the log and the status. */
  name: string;
  /** Runs the stage once until it stops; resolves with its exit code. */
  start: () => Promise<number>;
  /** Resolves when the whole pipeline stops. */
  stopped: Promise<unknown>;
  /** Where restarts and their causes are logged; default nowhere. */
  logger?: Logger;
  /** First delay before a restart, in ms; doubles up to `maxBackoffMs`. Default 1000. */
  initialBackoffMs?: number;
  /** Longest delay before a restart, in ms. Default 60 000. */
  maxBackoffMs?: number;
  /** A run that lasted this long resets the backoff, in ms. Default 60 000. */
  healthyAfterMs?: number;
}

/** A supervised stage. */
export interface SupervisedStage {
  /** The stage's name, as logs and `upbus_stage_restarts_total` show it. */
  name: string;
  /** Times it was started again after a failure. */
  readonly restarts: number;
  /** Whether a run of it is under way now. */
  readonly running: boolean;
  /** The last failure's message, if any. */
  readonly lastError: string | undefined;
  /** Resolves once the stage has stopped for good (after `stopped`). */
  done: Promise<void>;
}

/**
 * Supervises a stage until `stopped` resolves.
 *
 * @param options The stage, the stop signal and the backoff.
 * @returns Its status, and a promise of its end.
 *
 * @example
 * ```ts
 * import { superviseStage } from "./run.ts";
 * const stop = Promise.withResolvers<void>();
 * let runs = 0;
 * const stage = superviseStage({
 *   name: "flaky",
 *   initialBackoffMs: 1,
 *   stopped: stop.promise,
 *   start: async () => {
 *     if (++runs < 3) throw new Error("boom");
 *     await stop.promise;
 *     return 0;
 *   },
 * });
 * while (runs < 3) await new Promise((resolve) => setTimeout(resolve, 5));
 * stop.resolve();
 * await stage.done;
 * if (stage.restarts !== 2) throw new Error(`restarts ${stage.restarts}`);
 * ```
 */
export function superviseStage(options: SuperviseOptions): SupervisedStage {
  const { name, logger } = options;
  const initial = options.initialBackoffMs ?? 1000;
  const max = options.maxBackoffMs ?? 60_000;
  const healthyAfter = options.healthyAfterMs ?? 60_000;
  let stopping = false;
  let restarts = 0;
  let running = false;
  let lastError: string | undefined;
  let wake: (() => void) | undefined;
  options.stopped.then(() => {
    stopping = true;
    wake?.();
  });

  async function loop(): Promise<void> {
    let backoff = initial;
    while (!stopping) {
      const started = Date.now();
      running = true;
      try {
        const code = await options.start();
        if (stopping) return;
        lastError = `ended with exit code ${code} before upbus run stopped`;
      } catch (error) {
        if (stopping) return;
        lastError = (error as Error)?.message ?? String(error);
      } finally {
        running = false;
      }
      if (Date.now() - started >= healthyAfter) backoff = initial;
      logger?.warn("stage failed; starting it again", {
        stage: name,
        error: lastError,
        retryInMs: backoff,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, backoff);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        wake = done;
      });
      backoff = Math.min(backoff * 2, max);
      if (!stopping) restarts++;
    }
  }

  return {
    name,
    get restarts() {
      return restarts;
    },
    get running() {
      return running;
    },
    get lastError() {
      return lastError;
    },
    done: loop(),
  };
}

/**
 * @module Stage board
 * What `upbus run` says about its stages: for `/readyz`, one check per stage (running, or why
 * not and that it starts again); for `/metrics`, whether each runs, its restarts, its counts
 * since `upbus run` started (carried over its restarts) and its own figures (the position's
 * gauges).
 */
import type { RunningStage, SupervisedStage } from "./run.ts";

interface Entry {
  supervised?: SupervisedStage;
  current?: RunningStage;
  /** Counts of the runs that ended. */
  carried: Record<string, number>;
}

function escape(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

/**
 * The stages of one `upbus run`, as they start and stop.
 *
 * @example
 * ```ts
 * import { StageBoard } from "./stage_board.ts";
 * const board = new StageBoard(["enrich"]);
 * const stage = { failed: new Promise<Error>(() => {}), stats: () => ({ handled: 2 }), stop: async () => {} };
 * board.started("enrich", stage);
 * board.ended("enrich");
 * board.started("enrich", stage);
 * if (!board.metrics().includes('upbus_stage_records_total{stage="enrich",count="handled"} 4')) {
 *   throw new Error(board.metrics());
 * }
 * if (board.checks()["stage:enrich"].ready !== true) throw new Error("unexpected");
 * ```
 */
export class StageBoard {
  #entries = new Map<string, Entry>();

  /**
   * A board with every stage not yet started.
   *
   * @param names The stages, in the order they are reported.
   */
  constructor(names: readonly string[]) {
    for (const name of names) this.#entries.set(name, { carried: {} });
  }

  #entry(name: string): Entry {
    const entry = this.#entries.get(name);
    if (entry === undefined) throw new RangeError(`Cannot report stage ${name}: not on the board`);
    return entry;
  }

  /** Records the supervisor of a stage (its restarts and last error). */
  supervise(name: string, supervised: SupervisedStage): void {
    this.#entry(name).supervised = supervised;
  }

  /** Records that a run of the stage started. */
  started(name: string, stage: RunningStage): void {
    this.#entry(name).current = stage;
  }

  /** Records that the current run of the stage ended; its counts are carried over. */
  ended(name: string): void {
    const entry = this.#entry(name);
    for (const [key, value] of Object.entries(entry.current?.stats() ?? {})) {
      entry.carried[key] = (entry.carried[key] ?? 0) + value;
    }
    entry.current = undefined;
  }

  /** One `/readyz` check per stage, named `stage:<name>`: ready while a run of it is under way. */
  checks(): Record<string, { ready: boolean; text: string }> {
    const checks: Record<string, { ready: boolean; text: string }> = {};
    for (const [name, entry] of this.#entries) {
      const restarts = entry.supervised?.restarts ?? 0;
      const lastError = entry.supervised?.lastError;
      const history = restarts === 0
        ? ""
        : ` (started again ${restarts} time${
          restarts === 1 ? "" : "s"
        }; last failure: ${lastError})`;
      checks[`stage:${name}`] = entry.current !== undefined
        ? { ready: true, text: `running${history}` }
        : lastError === undefined
        ? { ready: false, text: "starting" }
        : { ready: false, text: `not running: ${lastError}; starting it again` };
    }
    return checks;
  }

  /** The stages' series in Prometheus text, then each running stage's own figures. */
  metrics(): string {
    const up: string[] = [];
    const restarts: string[] = [];
    const counts: string[] = [];
    const own: string[] = [];
    for (const [name, entry] of this.#entries) {
      const stage = `stage="${escape(name)}"`;
      up.push(`upbus_stage_up{${stage}} ${entry.current === undefined ? 0 : 1}`);
      restarts.push(`upbus_stage_restarts_total{${stage}} ${entry.supervised?.restarts ?? 0}`);
      const totals = { ...entry.carried };
      for (const [key, value] of Object.entries(entry.current?.stats() ?? {})) {
        totals[key] = (totals[key] ?? 0) + value;
      }
      for (const [key, value] of Object.entries(totals)) {
        counts.push(`upbus_stage_records_total{${stage},count="${escape(key)}"} ${value}`);
      }
      const text = entry.current?.metrics?.();
      if (text) own.push(text.replace(/\n$/, ""));
    }
    return [
      "# HELP upbus_stage_up Whether the stage of upbus run is running (1) or waiting to start again (0)",
      "# TYPE upbus_stage_up gauge",
      ...up,
      "# HELP upbus_stage_restarts_total Times the stage was started again after a failure",
      "# TYPE upbus_stage_restarts_total counter",
      ...restarts,
      "# HELP upbus_stage_records_total The stage's counts since upbus run started: records handled, handler failures (each retried), and its own",
      "# TYPE upbus_stage_records_total counter",
      ...counts,
      ...own,
    ].join("\n") + "\n";
  }
}

/**
 * @module Request budget
 * Keeps a client inside Up's rate limit: at most `perHour` requests in any sliding hour. A
 * `fetch` wrapped by it waits for a free slot instead of earning a 429. The timestamps can be
 * saved and restored, so a restarted command does not start with a fresh budget.
 */

/** Options for {@linkcode createRequestBudget}. */
export interface RequestBudgetOptions {
  /** Requests allowed in any 60 minutes. Default 1000, Up's limit. */
  perHour?: number;
  /** Timestamps (epoch ms) of requests already made, e.g. from a checkpoint. Default none. */
  history?: number[];
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Waits. Default a `setTimeout` promise. */
  sleep?: (ms: number) => Promise<void>;
  /** Told before a wait, with when the next slot opens (epoch ms). */
  onWait?: (until: number) => void;
}

/** A request budget. */
export interface RequestBudget {
  /** Waits for a slot, then takes it. */
  acquire(): Promise<void>;
  /** The requests of the last hour, epoch ms, oldest first. */
  history(): number[];
  /** The budget's `fetch`: the given one behind `acquire()`. */
  wrap(fetchFn: typeof fetch): typeof fetch;
}

const HOUR = 3_600_000;

/**
 * Creates a request budget.
 *
 * @param options The limit, past requests, clock and sleep.
 * @returns The budget.
 * @throws {RangeError} If `perHour` is not a positive whole number.
 *
 * @example
 * ```ts
 * import { createRequestBudget } from "./request_budget.ts";
 * let now = 0;
 * const waits: number[] = [];
 * const budget = createRequestBudget({
 *   perHour: 2,
 *   now: () => now,
 *   sleep: (ms) => { waits.push(ms); now += ms; return Promise.resolve(); },
 * });
 * await budget.acquire();
 * await budget.acquire();
 * await budget.acquire();
 * if (waits[0] !== 3_600_001) throw new Error(String(waits));
 * ```
 */
export function createRequestBudget(options: RequestBudgetOptions = {}): RequestBudget {
  const perHour = options.perHour ?? 1000;
  if (!Number.isInteger(perHour) || perHour < 1) {
    throw new RangeError(
      `Cannot create request budget: perHour is ${perHour}, expected a whole number from 1`,
    );
  }
  const now = options.now ?? Date.now;
  const sleep = options.sleep ??
    ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let made = [...(options.history ?? [])].sort((a, b) => a - b);
  let queue = Promise.resolve();

  async function take(): Promise<void> {
    while (true) {
      const current = now();
      made = made.filter((at) => at > current - HOUR);
      if (made.length < perHour) {
        made.push(current);
        return;
      }
      const until = made[made.length - perHour] + HOUR + 1;
      options.onWait?.(until);
      await sleep(until - current);
    }
  }

  const budget: RequestBudget = {
    acquire() {
      // One at a time, so that concurrent callers cannot both take the last slot.
      const turn = queue.then(take);
      queue = turn.catch(() => {});
      return turn;
    },
    history: () => {
      const current = now();
      return made.filter((at) => at > current - HOUR);
    },
    wrap(fetchFn) {
      return async (input, init) => {
        await budget.acquire();
        return await fetchFn(input, init);
      };
    },
  };
  return budget;
}

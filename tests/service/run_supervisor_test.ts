/**
 * The stage supervisor of `upbus run`: a stage that throws, or ends on its own, is started again
 * after a backoff; the others keep running; a stop ends every stage without a restart.
 *
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { superviseStage } from "../../lib/service/run.ts";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a stage that throws is started again with a doubling backoff; a healthy one runs on", async () => {
  const stop = Promise.withResolvers<void>();
  const starts: number[] = [];
  let steadyRuns = 0;
  const flaky = superviseStage({
    name: "flaky",
    initialBackoffMs: 20,
    stopped: stop.promise,
    start: async () => {
      starts.push(Date.now());
      if (starts.length <= 3) throw new Error("boom");
      await stop.promise;
      return 0;
    },
  });
  const steady = superviseStage({
    name: "steady",
    stopped: stop.promise,
    start: async () => {
      steadyRuns++;
      await stop.promise;
      return 0;
    },
  });
  while (starts.length < 4) await tick(5);
  assertEquals(flaky.restarts, 3);
  assertEquals(flaky.lastError, "boom");
  assertEquals(flaky.running, true);
  // 20, 40, 80 ms between the starts (at least).
  const gaps = starts.slice(1).map((at, i) => at - starts[i]);
  assertEquals(gaps.map((gap, i) => gap >= 20 * 2 ** i - 2), [true, true, true]);
  stop.resolve();
  await Promise.all([flaky.done, steady.done]);
  assertEquals(steadyRuns, 1);
  assertEquals(steady.restarts, 0);
});

Deno.test("a stage that ends on its own before the stop counts as failed; a stop during the backoff ends it", async () => {
  const stop = Promise.withResolvers<void>();
  let runs = 0;
  const stage = superviseStage({
    name: "quits",
    initialBackoffMs: 10_000,
    stopped: stop.promise,
    start: () => Promise.resolve(++runs && 3),
  });
  while (stage.lastError === undefined) await tick(5);
  assertEquals(stage.lastError, "ended with exit code 3 before upbus run stopped");
  const stoppedAt = Date.now();
  stop.resolve();
  await stage.done;
  assertEquals(runs, 1);
  assertEquals(Date.now() - stoppedAt < 1000, true);
});

import assert from "node:assert/strict";
import { createRefusalLog } from "../../lib/webhook/refusal_log.ts";
import { createLogger } from "../../lib/runtime/log.ts";

function setup(level: "debug" | "info" = "info") {
  const lines: Array<Record<string, unknown>> = [];
  let clock = 0;
  const refusals = createRefusalLog({
    logger: createLogger({ level, write: (line) => lines.push(JSON.parse(line)) }),
    intervalMs: 60_000,
    now: () => clock,
  });
  return { lines, refusals, advance: (ms: number) => clock += ms };
}

Deno.test("the first refusal of each reason is logged at once, at warn", () => {
  const { lines, refusals } = setup();
  refusals.record("signature_mismatch", { status: 401 });
  refusals.record("headers_timeout", { client: "192.0.2.1" });
  assert.deepEqual(lines.map((line) => [line.level, line.msg, line.reason]), [
    ["warn", "request refused", "signature_mismatch"],
    ["warn", "request refused", "headers_timeout"],
  ]);
  assert.equal(lines[0].status, 401);
  assert.equal(lines[1].client, "192.0.2.1");
});

Deno.test("10 000 refusals of one reason make two lines at info level: the first and a summary", () => {
  const { lines, refusals, advance } = setup();
  for (let i = 0; i < 10_000; i++) refusals.record("signature_mismatch", { status: 401 });
  assert.equal(lines.length, 1);
  advance(60_000);
  refusals.summarize();
  assert.equal(lines.length, 2);
  assert.deepEqual(
    { level: lines[1].level, reason: lines[1].reason, count: lines[1].count },
    { level: "warn", reason: "signature_mismatch", count: 9_999 },
  );
  assert.equal(lines[1].seconds, 60);
});

Deno.test("a summary has one line per reason, and nothing when nothing was refused", () => {
  const { lines, refusals, advance } = setup();
  refusals.summarize();
  assert.equal(lines.length, 0);
  for (const reason of ["a", "b", "a", "b", "b", "c"]) refusals.record(reason);
  advance(60_000);
  refusals.summarize();
  const summary = lines.filter((line) => line.msg === "requests refused");
  assert.deepEqual(summary.map((line) => [line.reason, line.count]), [["a", 1], ["b", 2]]);
  advance(60_000);
  refusals.summarize();
  assert.equal(lines.filter((line) => line.msg === "requests refused").length, 2, "no new lines");
});

Deno.test("a reason quiet for a whole interval is logged at once again when it comes back", () => {
  const { lines, refusals, advance } = setup();
  refusals.record("too_large");
  advance(60_000);
  refusals.summarize(); // the burst's interval: nothing pending
  refusals.record("too_large"); // still within the next interval: counted
  assert.equal(lines.length, 1);
  advance(60_000);
  refusals.summarize();
  advance(60_000);
  refusals.summarize(); // a whole quiet interval
  const before = lines.length;
  refusals.record("too_large");
  assert.equal(lines.length, before + 1);
  assert.equal(lines.at(-1)!.msg, "request refused");
});

Deno.test("each refusal is a debug line when LOG_LEVEL is debug", () => {
  const { lines, refusals } = setup("debug");
  for (let i = 0; i < 5; i++) refusals.record("method", { status: 405 });
  assert.deepEqual(lines.map((line) => line.level), ["warn", "debug", "debug", "debug", "debug"]);
});

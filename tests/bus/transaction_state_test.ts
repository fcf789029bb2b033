import assert from "node:assert/strict";
import { type StateMark, stateOf, supersedes } from "../../lib/bus/transaction_state.ts";

function value(status: string, amount = "-4.50"): string {
  return JSON.stringify({
    type: "transactions",
    id: "tx-1",
    attributes: { status, amount: { value: amount } },
  });
}

const held = stateOf({ value: value("HELD") });
const heldOtherAmount = stateOf({ value: value("HELD", "-5.00") });
const settled = stateOf({ value: value("SETTLED") });
const tombstone = stateOf({ value: null });

Deno.test("stateOf() reads the status of a transaction record and calls a null value DELETED", () => {
  assert.equal(held.state, "HELD");
  assert.equal(settled.state, "SETTLED");
  assert.deepEqual(tombstone, { state: "DELETED", digest: "tombstone" });
  assert.equal(stateOf({ value: "not json" }).state, "UNKNOWN");
  assert.equal(stateOf({ value: value("PENDING") }).state, "UNKNOWN");
  assert.equal(
    stateOf({ value: new TextEncoder().encode(value("HELD")) }).digest,
    held.digest,
    "bytes and text of one value have one digest",
  );
  assert.notEqual(held.digest, heldOtherAmount.digest);
});

Deno.test("supersedes() orders HELD < SETTLED < tombstone and skips repeats", async (t) => {
  const cases: [string, StateMark, StateMark | undefined, boolean][] = [
    ["a first record", held, undefined, true],
    ["SETTLED over HELD", settled, held, true],
    ["a tombstone over SETTLED", tombstone, settled, true],
    ["a tombstone over HELD", tombstone, held, true],
    ["HELD over SETTLED", held, settled, false],
    ["HELD over a tombstone", held, tombstone, false],
    ["SETTLED over a tombstone", settled, tombstone, false],
    ["the same HELD again", held, held, false],
    ["a second tombstone", tombstone, tombstone, false],
    ["HELD with another amount over HELD", heldOtherAmount, held, true],
  ];
  for (const [name, next, last, expected] of cases) {
    await t.step(`${name}: ${expected ? "published" : "skipped"}`, () => {
      assert.equal(supersedes(next, last), expected);
    });
  }
  await t.step("an UNKNOWN state on either side: only a different value is published", () => {
    const unknown = stateOf({ value: value("PENDING") });
    assert.equal(supersedes(unknown, settled), true);
    assert.equal(supersedes(held, unknown), true);
    assert.equal(supersedes(unknown, unknown), false);
  });
});

import assert from "node:assert/strict";
import { parseRules } from "../../../lib/consumers/notify/rules.ts";
import { eventsOf, firings } from "../../../lib/consumers/notify/notify.ts";
import { SimulatedBank } from "../../../lib/up_sim/bank.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";
import type { TransactionResource } from "../../../lib/up/types.ts";

const BASE = "http://up.test/api/v1";

function rule(name: string, body: string): string {
  return `  - name: ${name}\n${body}    notify: [{ target: t, message: "{{rule}}" }]\n`;
}

const RULES = parseRules(
  "targets:\n  t: { type: ntfy, topic: x }\nrules:\n" +
    rule("spending account", "    match: { account: Spending }\n") +
    rule("by id", "    match: { account: ACCOUNT_ID }\n") +
    rule("money in", "    match: { direction: in }\n") +
    rule("10 to 20", "    match: { amount: { min: 10, max: 20 } }\n") +
    rule("under 5", "    match: { amount: { under: 5 } }\n") +
    rule("good life", "    match: { category: good-life }\n") +
    rule("uber", '    match: { description: "^uber" }\n') +
    rule("raw text", '    match: { description: "ZZ SHOP" }\n') +
    rule("held", "    match: { status: held }\n") +
    rule("round-up", "    match: { round_up: true }\n") +
    rule("transfer out", "    match: { transfer: out }\n") +
    rule("not a transfer", "    match: { transfer: none, direction: out }\n") +
    rule("on settle", "    on: settled\n    match: {}\n") +
    rule("on delete", "    on: [deleted]\n    match: {}\n"),
  { path: "rules.yaml" },
);

function fired(transaction: TransactionResource, previous?: string, deleted = false): string[] {
  const events = eventsOf(previous, deleted ? null : transaction);
  return firings(RULES, events, transaction, { accountNames: { [spendingId]: "Spending" } })
    .map((firing) => firing.rule.name);
}

const bank = new SimulatedBank({ seedTransactions: 0 });
const [spending, saver] = bank.accounts;
const spendingId = spending.id;
for (const candidate of RULES.rules) {
  candidate.match.accounts = candidate.match.accounts?.map((a) =>
    a === "ACCOUNT_ID" ? saver.id : a
  );
}

Deno.test("each match condition selects exactly the transactions it names", async (t) => {
  await t.step("a held $15 Uber in Spending, in good-life's pubs-and-bars", () => {
    const tx = transactionResource(
      bank.addTransaction({
        amountCents: -1500,
        description: "Uber Eats",
        categoryId: "pubs-and-bars",
      }),
      BASE,
    );
    assert.deepEqual(fired(tx), [
      "spending account",
      "10 to 20",
      "good life",
      "uber",
      "held",
      "not a transfer",
    ]);
  });
  await t.step(
    "settled $4 with raw text, a round-up, in the saver: by id, under 5, raw text",
    () => {
      const tx = transactionResource(
        bank.addTransaction({
          amountCents: -400,
          description: "Kiosk",
          rawText: "ZZ SHOP SYDNEY",
          accountId: saver.id,
          status: "SETTLED",
        }),
        BASE,
      );
      tx.attributes.roundUp = { amount: tx.attributes.amount, boostPortion: null };
      assert.deepEqual(fired(tx), [
        "by id",
        "under 5",
        "raw text",
        "round-up",
        "not a transfer",
        "on settle",
      ]);
    },
  );
  await t.step("a transfer out, and money in", () => {
    const out = transactionResource(
      bank.addTransaction({ amountCents: -2500, description: "To Saver", status: "SETTLED" }),
      BASE,
    );
    out.relationships.transferAccount = { data: { type: "accounts", id: saver.id } };
    assert.deepEqual(fired(out, "SETTLED"), []);
    assert.deepEqual(fired(out), ["spending account", "transfer out", "on settle"]);
    const pay = transactionResource(
      bank.addTransaction({ amountCents: 100_000, description: "Salary", status: "SETTLED" }),
      BASE,
    );
    assert.deepEqual(fired(pay), ["spending account", "money in", "on settle"]);
  });
  await t.step("HELD then SETTLED: only the rule on settlement fires the second time", () => {
    const held = bank.addTransaction({ amountCents: -1200, description: "Cafe" });
    assert.ok(fired(transactionResource(held, BASE)).includes("held"));
    bank.settle(held);
    assert.deepEqual(fired(transactionResource(held, BASE), "HELD"), ["on settle"]);
  });
  await t.step("a deletion fires only the rule on deleted, and only for a transaction seen", () => {
    const gone = transactionResource(
      bank.addTransaction({ amountCents: -900, description: "Hotel" }),
      BASE,
    );
    assert.deepEqual(fired(gone, "HELD", true), ["on delete"]);
    assert.deepEqual(eventsOf(undefined, null), []);
  });
});

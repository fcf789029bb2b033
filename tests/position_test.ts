import assert from "node:assert/strict";
import { Position } from "../lib/consumers/position.ts";
import { spendChartSvg } from "../lib/consumers/spend_chart.ts";
import { SimulatedBank } from "../lib/up/simulator/bank.ts";
import { accountResource, transactionResource } from "../lib/up/simulator/resources.ts";

const BASE = "http://up.test/api/v1";
// 13:00 on 15 March 2026 in Sydney (AEDT, +11:00).
const NOW = Date.parse("2026-03-15T02:00:00Z");
const DAY = 24 * 3_600_000;

function fixture() {
  const bank = new SimulatedBank({ now: () => NOW, seedTransactions: 0 });
  const [spending, savings] = bank.accounts;
  const add = (cents: number, category: string | null, status: "HELD" | "SETTLED", at: number) =>
    bank.addTransaction({
      amountCents: cents,
      description: `t${cents}`,
      categoryId: category,
      status,
      createdAt: at,
    });
  const coffee = add(-1250, "restaurants-and-cafes", "HELD", NOW - 3_600_000);
  const groceries = add(-3000, "groceries", "SETTLED", NOW - 2 * 3_600_000);
  const earlier = add(-725, "groceries", "SETTLED", NOW - 5 * DAY);
  const pay = add(10_000, null, "SETTLED", NOW - 4 * 3_600_000);
  const lastMonth = add(-5000, "fuel", "SETTLED", Date.parse("2026-02-20T01:00:00Z"));
  const saved = bank.addTransaction({
    amountCents: 20_000,
    description: "Save",
    accountId: savings.id,
    status: "SETTLED",
    createdAt: NOW - DAY,
  });
  const position = new Position({ timeZone: "Australia/Sydney", now: () => NOW });
  for (const transaction of [coffee, groceries, earlier, pay, lastMonth, saved]) {
    position.apply(transaction.id, transactionResource(transaction, BASE));
  }
  const accounts = () =>
    bank.accounts.map((account) =>
      accountResource(account, { balanceCents: bank.balanceOf(account.id), baseUrl: BASE })
    );
  return { bank, spending, savings, coffee, position, accounts };
}

Deno.test("Position matches hand-computed settled, held and spend figures", async (t) => {
  const { spending, savings, coffee, position } = fixture();
  await t.step("settled and held per account", () => {
    const byId = new Map(position.accounts().map((account) => [account.accountId, account]));
    // -30.00 - 7.25 + 100.00 - 50.00 = 12.75 settled; the -12.50 coffee held.
    assert.equal(byId.get(spending.id)?.settledCents, 1275);
    assert.equal(byId.get(spending.id)?.heldCents, -1250);
    assert.equal(byId.get(savings.id)?.settledCents, 20_000);
    assert.equal(byId.get(spending.id)?.balanceCents, null, "no balance before reconciling");
  });
  await t.step("spend today and this month, by category, purchases only", () => {
    assert.deepEqual(position.spend(), {
      today: { "restaurants-and-cafes": 1250, groceries: 3000 },
      month: { "restaurants-and-cafes": 1250, groceries: 3725 },
    });
  });
  await t.step("a tombstone removes the transaction from every figure", () => {
    position.apply(coffee.id, null);
    const mine = position.accounts().find((account) => account.accountId === spending.id);
    assert.equal(mine?.heldCents, 0);
    assert.deepEqual(position.spend().today, { groceries: 3000 });
  });
});

Deno.test("Position.reconcile() anchors balances to Up's, then reports drift", async (t) => {
  const { bank, spending, position, accounts } = fixture();
  // In Up's balance long before the position hears of it (a backfill imports it later).
  const old = bank.addTransaction({
    amountCents: -4200,
    description: "Old",
    createdAt: NOW - 40 * DAY,
    status: "SETTLED",
  });
  const balance = () =>
    position.accounts().find((account) => account.accountId === spending.id)?.balanceCents;
  await t.step("the first reconciliation anchors: balance equals Up's, no drift", () => {
    assert.deepEqual(position.reconcile(accounts()), []);
    assert.equal(balance(), bank.balanceOf(spending.id));
    assert.equal(position.accounts()[1].name, "Spending");
  });
  await t.step("history imported after anchoring leaves the balance as Up has it", () => {
    position.apply(old.id, transactionResource(old, BASE));
    assert.equal(balance(), bank.balanceOf(spending.id));
    assert.deepEqual(position.reconcile(accounts()), []);
  });
  const missed = bank.addTransaction({ amountCents: -999, description: "Missed" });
  await t.step("a transaction Up has and the position missed is reported as drift", () => {
    assert.deepEqual(position.reconcile(accounts()), [{
      accountId: spending.id,
      upCents: bank.balanceOf(spending.id),
      ourCents: bank.balanceOf(spending.id) + 999,
      driftCents: -999,
    }]);
  });
  await t.step("once it arrives the drift is gone, and the balance moved with it", () => {
    position.apply(missed.id, transactionResource(missed, BASE));
    assert.deepEqual(position.reconcile(accounts()), []);
    assert.equal(balance(), bank.balanceOf(spending.id));
  });
});

Deno.test("spendChartSvg() draws one bar per category, largest first, escaping names", () => {
  const svg = spendChartSvg({ "a<b": 100, groceries: 3000 }, { title: "Today" });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.indexOf("groceries") < svg.indexOf("a&#60;b"));
  assert.ok(svg.includes("$30.00"));
  assert.ok(!svg.includes("a<b"));
});

Deno.test("a transaction from the anchor's own second moves the balance, not the anchor", () => {
  // Up's createdAt has whole seconds: one made 400 ms after the balance was read at NOW + 600 ms
  // reads as NOW, earlier than the anchor's moment, yet Up's balance did not hold it.
  let clock = NOW + 600;
  const bank = new SimulatedBank({ now: () => NOW, seedTransactions: 0 });
  const [spending] = bank.accounts;
  const position = new Position({ timeZone: "Australia/Sydney", now: () => clock });
  const accounts = () =>
    bank.accounts.map((account) =>
      accountResource(account, { balanceCents: bank.balanceOf(account.id), baseUrl: BASE })
    );
  position.reconcile(accounts());
  const before = position.accounts().find((a) => a.accountId === spending.id)!.balanceCents!;
  clock = NOW + 1000;
  const fresh = bank.addTransaction({ amountCents: -500, description: "Fresh", createdAt: NOW });
  position.apply(fresh.id, transactionResource(fresh, BASE));
  const after = position.accounts().find((a) => a.accountId === spending.id)!.balanceCents!;
  assert.equal(after, before - 500);
  const older = bank.addTransaction({
    amountCents: -700,
    description: "Older",
    createdAt: NOW - 1000,
  });
  position.apply(older.id, transactionResource(older, BASE));
  assert.equal(
    position.accounts().find((a) => a.accountId === spending.id)!.balanceCents,
    after,
    "one from an earlier second is history that Up's balance already held",
  );
});

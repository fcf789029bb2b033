import assert from "node:assert/strict";
import { Position } from "../../../lib/consumers/position/position.ts";
import { balanceSvg } from "../../../lib/consumers/position/balance_chart.ts";
import { dailySpendSvg } from "../../../lib/consumers/position/spend_chart.ts";
import { SimulatedBank } from "../../../lib/up_sim/bank.ts";
import { accountResource, transactionResource } from "../../../lib/up_sim/resources.ts";

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
    // The everyday account first, as in Up's app.
    assert.deepEqual(position.accounts().map((account) => account.name), ["Spending", "Savings"]);
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

Deno.test("Position gives spend per day and by category over the last 30 days", () => {
  const { position } = fixture();
  const days = position.dailySpend(30);
  assert.equal(days.length, 30);
  assert.equal(days[0].day, "2026-02-14");
  assert.equal(days.at(-1)!.day, "2026-03-15", "ends today in Sydney");
  const spent = Object.fromEntries(days.filter((d) => d.cents > 0).map((d) => [d.day, d.cents]));
  // Today -12.50 held and -30.00; the 10th -7.25; 20 Feb -50.00. Pay and savings are not spend.
  assert.deepEqual(spent, { "2026-02-20": 5000, "2026-03-10": 725, "2026-03-15": 4250 });
  assert.deepEqual(position.categorySpend(30), {
    "restaurants-and-cafes": 1250,
    groceries: 3725,
    fuel: 5000,
  });
  assert.deepEqual(position.categorySpend(7), { "restaurants-and-cafes": 1250, groceries: 3725 });
});

Deno.test("Position.balanceHistory() works the balance back day by day once it is known", () => {
  const { bank, spending, savings, position, accounts } = fixture();
  assert.equal(position.balanceHistory(spending.id), null, "unknown before reconciling");
  position.reconcile(accounts());
  const history = position.balanceHistory(spending.id)!;
  const now = bank.balanceOf(spending.id);
  const at = (day: string) => history.find((point) => point.day === day)?.cents;
  assert.equal(history.length, 30);
  assert.equal(at("2026-03-15"), now, "today's is the balance now");
  // Today brought -12.50 - 30.00 + 100.00 = +57.50.
  assert.equal(at("2026-03-14"), now - 5750);
  assert.equal(at("2026-03-10"), now - 5750);
  assert.equal(at("2026-03-09"), now - 5750 + 725);
  assert.equal(at("2026-02-19"), now - 5750 + 725 + 5000);
  assert.equal(at("2026-02-14"), now - 5750 + 725 + 5000);
  const saver = position.balanceHistory(savings.id)!;
  assert.equal(saver.at(-1)!.cents - saver.at(-2)!.cents, 0);
  assert.equal(saver.at(-2)!.cents - saver.at(-3)!.cents, 20_000, "saved yesterday");
});

Deno.test("dailySpendSvg() and balanceSvg() draw one bar per day and one point per day", () => {
  const days = [
    { day: "2026-03-13", cents: 0 },
    { day: "2026-03-14", cents: 500 },
    { day: "2026-03-15", cents: 1000 },
  ];
  const bars = dailySpendSvg(days);
  assert.match(bars, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  const heights = [...bars.matchAll(/data-cents="(\d+)"[^>]* height="([\d.]+)"/g)]
    .map(([, cents, height]) => [Number(cents), Number(height)]);
  assert.deepEqual(heights.map(([cents]) => cents), [0, 500, 1000]);
  assert.equal(heights[0][1], 0, "no bar without spend");
  assert.ok(Math.abs(heights[2][1] - 2 * heights[1][1]) < 0.01, "heights follow the amounts");
  assert.ok(bars.includes("<title>15 Mar: $10.00</title>"));
  assert.ok(!/<text/.test(bars), "no text inside: labels are HTML and stay legible");
  const line = balanceSvg([{ day: "2026-03-14", cents: 100 }, { day: "2026-03-15", cents: -50 }]);
  const points = line.match(/<polyline[^>]* points="([^"]+)"/)![1].split(" ");
  assert.equal(points.length, 2);
  assert.ok(Number(points[0].split(",")[1]) < Number(points[1].split(",")[1]), "the line falls");
  assert.equal(balanceSvg([]), "");
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

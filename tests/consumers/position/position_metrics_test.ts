import assert from "node:assert/strict";
import { createPositionConsumer } from "../../../lib/consumers/position/position_consumer.ts";
import { Position } from "../../../lib/consumers/position/position.ts";
import { positionMetrics } from "../../../lib/consumers/position/position_metrics.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import { SimulatedBank } from "../../../lib/up_sim/bank.ts";
import { accountResource, transactionResource } from "../../../lib/up_sim/resources.ts";

const BASE = "http://up.test/api/v1";
// 13:00 on 15 March 2026 in Sydney (AEDT, +11:00).
const NOW = Date.parse("2026-03-15T02:00:00Z");
const DAY = 24 * 3_600_000;

/** Runs Prometheus's own `promtool check metrics` on a text; returns its exit code and output. */
async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

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
  const position = new Position({ timeZone: "Australia/Sydney", now: () => NOW });
  const made = [
    add(-1250, "pubs-and-bars", "HELD", NOW - 3_600_000),
    add(-3000, "groceries", "SETTLED", NOW - 2 * 3_600_000),
    add(-725, "groceries", "SETTLED", NOW - 5 * DAY),
    add(10_000, null, "SETTLED", NOW - 4 * 3_600_000),
    add(-5000, "fuel", "SETTLED", Date.parse("2026-02-20T01:00:00Z")),
    bank.addTransaction({
      amountCents: -2000,
      description: "Savings bar",
      accountId: savings.id,
      categoryId: "pubs-and-bars",
      status: "SETTLED",
      createdAt: NOW - DAY,
    }),
  ];
  for (const transaction of made) {
    position.apply(transaction.id, transactionResource(transaction, BASE));
  }
  position.reconcile(
    bank.accounts.map((account) =>
      accountResource(account, { balanceCents: bank.balanceOf(account.id), baseUrl: BASE })
    ),
  );
  return { bank, spending, savings, position };
}

Deno.test("positionMetrics() passes promtool check metrics and gives hand-computed gauges", async (t) => {
  const { spending, savings, position, bank } = fixture();
  const text = positionMetrics(position, { timeZone: "Australia/Sydney", now: () => NOW });

  await t.step("promtool check metrics finds nothing to report", async () => {
    const { code, output } = await promtoolCheck(text);
    assert.equal(code, 0, output);
    assert.equal(output.trim(), "");
  });

  await t.step("promtool is a real check: it fails a malformed exposition", async () => {
    const { code } = await promtoolCheck(
      text.replace(
        "# TYPE upbus_account_held_aud gauge",
        "# TYPE upbus_account_held_aud gauge\n# TYPE upbus_account_held_aud counter",
      ),
    );
    assert.notEqual(code, 0);
  });

  const sample = (name: string, labels: string) =>
    text.split("\n").find((line) => line.startsWith(`${name}{${labels}}`))?.split(" ").at(-1);
  const account = (a: { id: string; displayName: string }) =>
    `account_id="${a.id}",account="${a.displayName}"`;

  await t.step("balance, settled and held per account, labelled by name", () => {
    assert.equal(
      sample("upbus_account_balance_aud", account(spending)),
      (bank.balanceOf(spending.id) / 100).toFixed(2),
    );
    // -30.00 - 7.25 + 100.00 - 50.00 = 12.75 settled; the -12.50 bar held.
    assert.equal(sample("upbus_account_settled_aud", account(spending)), "12.75");
    assert.equal(sample("upbus_account_held_aud", account(spending)), "-12.50");
    assert.equal(sample("upbus_account_settled_aud", account(savings)), "-20.00");
  });

  await t.step("spend today and this month per account and category", () => {
    assert.equal(
      sample("upbus_spend_today_aud", `${account(spending)},category="pubs-and-bars"`),
      "12.50",
    );
    assert.equal(
      sample("upbus_spend_today_aud", `${account(spending)},category="groceries"`),
      "30.00",
    );
    assert.equal(
      sample("upbus_spend_month_aud", `${account(spending)},category="groceries"`),
      "37.25",
    );
    assert.equal(
      sample("upbus_spend_month_aud", `${account(savings)},category="pubs-and-bars"`),
      "20.00",
    );
    assert.equal(
      sample("upbus_spend_today_aud", `${account(savings)},category="pubs-and-bars"`),
      undefined,
      "yesterday",
    );
    assert.ok(!text.includes('category="fuel"'), "February's fuel is not this month's");
  });
});

Deno.test("the position consumer serves /metrics beside its dashboard", async () => {
  const bank = new SimulatedBank({ now: () => NOW, seedTransactions: 0 });
  const consumer = createPositionConsumer({
    logger: createLogger({ write: () => {} }),
    dashboard: { port: 0 },
    now: () => NOW,
  });
  try {
    const bar = bank.addTransaction({ amountCents: -5230, description: "Bar", createdAt: NOW });
    consumer.position.apply(bar.id, transactionResource(bar, BASE));
    const response = await fetch(new URL("metrics", consumer.dashboard!.url));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    assert.match(text, /^upbus_position_transactions 1$/m);
    assert.match(text, /^upbus_spend_today_aud\{.*category="uncategorised"\} 52\.30$/m);
    const { code, output } = await promtoolCheck(text);
    assert.equal(code, 0, output);
  } finally {
    await consumer.close!();
  }
});

Deno.test("the Grafana dashboard in deploy/ queries only metrics the position exposes", async () => {
  const dashboard = JSON.parse(
    await Deno.readTextFile(
      new URL("../../../deploy/grafana/upbus-position.json", import.meta.url),
    ),
  );
  const exposed = positionMetrics(new Position());
  const used = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      for (const [name] of target.expr.matchAll(/upbus_[a-z_]+/g)) used.add(name);
    }
  }
  for (const variable of dashboard.templating.list) {
    for (const [name] of JSON.stringify(variable).matchAll(/upbus_[a-z_]+/g)) used.add(name);
  }
  assert.ok(used.size >= 4, "the panels use the gauges");
  for (const name of used) assert.match(exposed, new RegExp(`^# TYPE ${name} gauge$`, "m"), name);
});

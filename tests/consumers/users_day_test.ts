/**
 * Every consumer puts a purchase on the user's day (issue 24.4): the ledger's entry, Actual's
 * date, a notification's `{date}` and `{time}`, the console's line and the position's daily
 * spend agree, for purchases at 23:30 and 00:30 Sydney time around a daylight-saving change,
 * and each shows the amount the same way.
 */
import assert from "node:assert/strict";
import { transactionRecord } from "../../lib/bus/transaction_record.ts";
import { actualChange } from "../../lib/consumers/actual/mapping.ts";
import { consoleLine } from "../../lib/consumers/console/console.ts";
import { journalEntry } from "../../lib/consumers/ledger/ledger.ts";
import { templateValues } from "../../lib/consumers/notify/template.ts";
import { Position } from "../../lib/consumers/position/position.ts";
import { SimulatedBank } from "../../lib/up_sim/bank.ts";
import { transactionResource } from "../../lib/up_sim/resources.ts";

const ZONE = "Australia/Sydney";
const BASE = "http://127.0.0.1:1/api/v1";

// Sydney's daylight saving ends at 03:00 on 2026-04-05 and starts at 02:00 on 2026-10-04.
const PURCHASES: Array<{ at: string; day: string; time: string }> = [
  { at: "2026-04-04T12:30:00Z", day: "2026-04-04", time: "23:30" },
  { at: "2026-04-04T13:30:00Z", day: "2026-04-05", time: "00:30" },
  { at: "2026-04-05T13:30:00Z", day: "2026-04-05", time: "23:30" },
  { at: "2026-10-03T14:30:00Z", day: "2026-10-04", time: "00:30" },
  { at: "2026-10-04T12:30:00Z", day: "2026-10-04", time: "23:30" },
];

Deno.test("every consumer puts a purchase at 23:30 or 00:30 on a DST change day on the Sydney day", () => {
  for (const purchase of PURCHASES) {
    const at = Date.parse(purchase.at);
    const bank = new SimulatedBank({ seedTransactions: 0, now: () => at });
    const resource = transactionResource(
      bank.addTransaction({ amountCents: -123_450, description: "Night Owl" }),
      BASE,
    );
    const label = `${purchase.at} (${purchase.day} ${purchase.time} in Sydney)`;

    const entry = journalEntry(resource, { timeZone: ZONE });
    assert.ok(entry.startsWith(`${purchase.day} `), `ledger: ${label}\n${entry}`);
    assert.match(entry, /-1234\.50/, `ledger amount: ${entry}`);

    const change = actualChange(resource.id, resource, { categories: new Map(), timeZone: ZONE });
    assert.equal(change.kind, "upsert", label);
    assert.equal(
      (change as { transaction: { date: string } }).transaction.date,
      purchase.day,
      `actual: ${label}`,
    );

    const values = templateValues({
      transaction: resource,
      event: "created",
      rule: "r",
      timeZone: ZONE,
    });
    assert.equal(values.date, purchase.day, `notify: ${label}`);
    assert.equal(values.time, purchase.time, `notify: ${label}`);
    assert.equal(values.signed_amount, "-$1,234.50");
    assert.equal(values.amount, "$1,234.50");

    const record = transactionRecord(resource, "test");
    const line = consoleLine({
      topic: "up.transactions",
      partition: 0,
      offset: "0",
      key: record.key,
      value: new TextEncoder().encode(record.value!),
      headers: {},
      timestamp: "0",
    }, ZONE);
    assert.ok(line.startsWith(`${purchase.day} ${purchase.time}  `), `console: ${label}\n${line}`);
    assert.match(line, /-\$1,234\.50/, `console amount: ${line}`);

    const position = new Position({ timeZone: ZONE, now: () => at });
    position.apply(resource.id, resource);
    assert.deepEqual(position.dailySpend(1), [{ day: purchase.day, cents: 123_450 }], label);
  }
});

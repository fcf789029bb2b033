/**
 * The console consumer's lines: one per change of a transaction's state (the record of a
 * SETTLED event whose CREATED record already held the settled state is not printed again),
 * and the category by Up's name, as the dashboard shows it, not its id.
 *
 * Permissions: none.
 */
import assert from "node:assert/strict";
import type { ConsumerMessage } from "../../../lib/bus/consumer.ts";
import { tombstoneRecord, transactionRecord } from "../../../lib/bus/transaction_record.ts";
import { createConsoleConsumer } from "../../../lib/consumers/console/console.ts";
import { SIM_CATEGORY_NAMES, SimulatedBank } from "../../../lib/up_sim/bank.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";

const BASE = "http://127.0.0.1:8787/api/v1";

let offset = 0;
function message(record: { key: string; value: string | null }): ConsumerMessage {
  return {
    topic: "up.transactions",
    partition: 0,
    offset: String(offset++),
    key: record.key,
    value: record.value === null ? null : new TextEncoder().encode(record.value),
    headers: {},
    timestamp: String(Date.now()),
  };
}

Deno.test("the console prints a transaction once per change of state, with Up's category name", () => {
  const bank = new SimulatedBank({ seedTransactions: 0 });
  const coffee = bank.addTransaction({
    amountCents: -1250,
    description: "Campos Coffee",
    categoryId: "restaurants-and-cafes",
  });
  const lines: string[] = [];
  const consumer = createConsoleConsumer({
    out: (line) => lines.push(line),
    timeZone: "UTC",
    categoryNames: new Map(Object.entries(SIM_CATEGORY_NAMES)),
  });
  bank.settle(coffee);
  const settled = transactionRecord(transactionResource(coffee, BASE), "enricher");
  // CREATED's record, fetched after the settle, and SETTLED's record: the same state.
  consumer.handle(message(settled));
  consumer.handle(message(settled));
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0], /SETTLED\s+-\$12\.50\s+Campos Coffee {2}\[Restaurants & Cafes\]$/);
  consumer.handle(message(tombstoneRecord(coffee.id, "enricher")));
  consumer.handle(message(tombstoneRecord(coffee.id, "enricher")));
  assert.equal(lines.length, 2, "a change of state is printed, once");
  assert.equal(lines[1], `deleted            ${coffee.id}`);
});

Deno.test("without Up's names the console shows the category id made readable", () => {
  const bank = new SimulatedBank({ seedTransactions: 0 });
  const ride = bank.addTransaction({
    amountCents: -450,
    description: "Opal Travel",
    categoryId: "public-transport",
  });
  const lines: string[] = [];
  const consumer = createConsoleConsumer({ out: (line) => lines.push(line), timeZone: "UTC" });
  consumer.handle(message(transactionRecord(transactionResource(ride, BASE), "enricher")));
  assert.match(lines[0], /Opal Travel {2}\[Public transport\]$/);
});

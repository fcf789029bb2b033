/**
 * `upbus consume --help` tells the truth: its usage lines name every built-in consumer, and the
 * position consumer is described over the period its dashboard shows.
 *
 * Permissions: none.
 */
import assert from "node:assert/strict";
import { consumeCommand, CONSUMER_NAMES } from "../../lib/cli/consume.ts";

Deno.test("consume --help's usage lines name every built-in consumer", () => {
  const usage = consumeCommand.usage.split("\n\n")[0];
  const named = new Set<string>();
  for (const [, list] of usage.matchAll(/upbus consume <([^>]+)>/g)) {
    for (const name of list.split("|")) named.add(name);
  }
  for (const [, name] of usage.matchAll(/upbus consume ([a-z]+)\b/g)) named.add(name);
  assert.deepEqual([...named].sort(), [...CONSUMER_NAMES].sort());
});

Deno.test("consume --help describes position over the dashboard's last 30 days", () => {
  const position = /^ {2}position {2}([\s\S]*?)\n {2}ledger/m.exec(consumeCommand.usage)?.[1];
  assert.ok(position, "a position paragraph");
  assert.match(position.replace(/\s+/g, " "), /over the last 30 days/);
  assert.doesNotMatch(position, /^[^(]*today and this month/, "not the metrics' period first");
});

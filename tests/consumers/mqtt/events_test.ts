/** The events a record of `up.transactions` means to Home Assistant, given what came before. */
import assert from "node:assert/strict";
import { eventTypesOf } from "../../../lib/consumers/mqtt/events.ts";
import type { TransactionResource } from "../../../lib/up/types.ts";

function tx(
  amountCents: number,
  status: "HELD" | "SETTLED",
  transferAccount: string | null = null,
): TransactionResource {
  return {
    type: "transactions",
    id: "t",
    attributes: { amount: { valueInBaseUnits: amountCents }, status },
    relationships: {
      account: { data: { type: "accounts", id: "a" } },
      transferAccount: {
        data: transferAccount === null ? null : { type: "accounts", id: transferAccount },
      },
    },
  } as unknown as TransactionResource;
}

Deno.test("eventTypesOf() names what a record means, once", () => {
  assert.deepEqual(eventTypesOf(undefined, tx(-500, "HELD")), ["purchase"]);
  assert.deepEqual(eventTypesOf(undefined, tx(250_000, "SETTLED")), ["income"]);
  assert.deepEqual(eventTypesOf(undefined, tx(-10_000, "SETTLED", "saver")), ["transfer_out"]);
  assert.deepEqual(eventTypesOf(undefined, tx(10_000, "SETTLED", "spending")), ["transfer_in"]);
  assert.deepEqual(eventTypesOf(tx(-500, "HELD"), tx(-500, "SETTLED")), ["settled"]);
  assert.deepEqual(
    eventTypesOf(tx(-500, "SETTLED"), tx(-500, "SETTLED")),
    [],
    "a redelivery means nothing",
  );
  assert.deepEqual(eventTypesOf(tx(-500, "HELD"), null), ["deleted"]);
  assert.deepEqual(eventTypesOf(undefined, null), [], "a tombstone of an unknown transaction");
});

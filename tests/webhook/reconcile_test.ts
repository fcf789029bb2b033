/** Tests of reconciliation's one judgement: does a stored event account for a transaction? */
import assert from "node:assert/strict";
import { eventsAccountFor } from "../../lib/webhook/recovery/reconcile.ts";
import type { TransactionResource } from "../../lib/up/types.ts";

function transaction(status: "HELD" | "SETTLED", settledAt: string | null): TransactionResource {
  return {
    id: "tx-1",
    attributes: { status, settledAt, createdAt: "2026-12-07T10:00:00+11:00" },
  } as unknown as TransactionResource;
}

Deno.test("eventsAccountFor() says which states the stored events already put on the bus", () => {
  const created = (receivedAt: string) => ({ type: "TRANSACTION_CREATED", receivedAt });
  assert.equal(eventsAccountFor(transaction("HELD", null), []), false, "no event at all");
  assert.equal(
    eventsAccountFor(transaction("HELD", null), [created("2026-12-06T23:00:00.100Z")]),
    true,
  );
  const settled = transaction("SETTLED", "2026-12-07T10:05:00+11:00");
  assert.equal(
    eventsAccountFor(settled, [{ type: "TRANSACTION_SETTLED", receivedAt: "x" }]),
    true,
  );
  assert.equal(
    eventsAccountFor(settled, [created("2026-12-06T23:00:00.100Z")]),
    false,
    "created while held: the settlement is missing",
  );
  assert.equal(
    eventsAccountFor(settled, [created("2026-12-06T23:05:00.900Z")]),
    false,
    "within the settled second: Up's whole-second time cannot say which came first",
  );
  assert.equal(
    eventsAccountFor(settled, [created("2026-12-06T23:05:01.000Z")]),
    true,
    "a second later: the enricher fetched the settled state",
  );
});

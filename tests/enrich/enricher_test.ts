import assert from "node:assert/strict";
import { startEnricher } from "../../lib/enrich/enricher.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import type { TransactionResource } from "../../lib/up/types.ts";
import { consumeWithKcat } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { inProcessUp, produceWebhookEvents, quietKafka, waitFor } from "../support/pipeline.ts";

const quiet = createLogger({ write: () => {} });

function topics() {
  const id = crypto.randomUUID();
  return { source: `upbus-test-events-${id}`, target: `upbus-test-transactions-${id}` };
}

Deno.test("startEnricher() turns each webhook event type into the transaction's latest state", async (t) => {
  const brokers = await testBrokers();
  const kafka = quietKafka(brokers);
  const { source, target } = topics();
  const { sim, client } = inProcessUp();
  const bank = sim.bank;
  const held = bank.addTransaction({ amountCents: -450, description: "Campos Coffee" });
  const settled = bank.addTransaction({ amountCents: -3000, description: "Woolworths" });
  bank.settle(settled);
  // Up's documented case: a held transaction is deleted and a new, settled one created instead.
  const deleted = bank.addTransaction({ amountCents: -20000, description: "Hotel deposit" });
  bank.remove(deleted);
  const replacement = bank.addTransaction({
    amountCents: -18000,
    description: "Hotel",
    status: "SETTLED",
  });
  await produceWebhookEvents(kafka, source, [
    { type: "TRANSACTION_CREATED", transactionId: held.id },
    { type: "TRANSACTION_CREATED", transactionId: settled.id },
    { type: "TRANSACTION_SETTLED", transactionId: settled.id },
    { type: "TRANSACTION_CREATED", transactionId: deleted.id },
    { type: "TRANSACTION_DELETED", transactionId: deleted.id },
    { type: "TRANSACTION_CREATED", transactionId: replacement.id },
    { type: "PING" },
  ]);

  const groupId = `upbus-test-enricher-${crypto.randomUUID()}`;
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-enricher-" });
  const options = { kafka, up: client, sourceTopic: source, targetTopic: target, groupId, dataDir };
  const enricher = await startEnricher({ ...options, logger: quiet });
  try {
    await waitFor(() => {
      const { published, tombstones, skippedStale } = enricher.stats();
      return published + tombstones + skippedStale === 6;
    }, "six records handled");
    // The settled purchase's CREATED and SETTLED both fetch its present state: the second is a
    // repeat, as is the second tombstone of the deleted one.
    assert.deepEqual(enricher.stats(), {
      published: 3,
      tombstones: 1,
      skippedStale: 2,
      ignored: 1,
      failures: 0,
    });
  } finally {
    await enricher.stop();
  }
  const records = await consumeWithKcat(brokers, target);
  const latest = new Map<string, TransactionResource | null>();
  for (const record of records.sort((a, b) => a.offset - b.offset)) {
    latest.set(record.key!, record.payload === null ? null : JSON.parse(record.payload));
  }

  await t.step("CREATED of a held transaction publishes it HELD, keyed by its id", () => {
    assert.equal(latest.get(held.id)?.attributes.status, "HELD");
    assert.equal(latest.get(held.id)?.attributes.amount.value, "-4.50");
  });
  await t.step("SETTLED publishes the settled resource", () => {
    assert.equal(latest.get(settled.id)?.attributes.status, "SETTLED");
    assert.ok(latest.get(settled.id)?.attributes.settledAt);
  });
  await t.step("DELETED publishes a tombstone (a null value), once", () => {
    const mine = records.filter((record) => record.key === deleted.id);
    assert.equal(mine.length, 1, "CREATED found it gone (404); DELETED's repeat was skipped");
    assert.ok(mine.every((record) => record.payload === null));
    assert.equal(latest.get(deleted.id), null);
  });
  await t.step("the transaction created instead of a settlement has its own key", () => {
    assert.equal(latest.get(replacement.id)?.attributes.status, "SETTLED");
  });
  await t.step("PING publishes nothing", () => {
    assert.equal(records.length, 4);
  });
  await t.step("a restart in the same group resumes after the committed offsets", async () => {
    const again = await startEnricher({ ...options, logger: quiet });
    try {
      bank.settle(held);
      await produceWebhookEvents(kafka, source, [
        { type: "TRANSACTION_SETTLED", transactionId: held.id },
      ]);
      await waitFor(() => again.stats().published === 1, "the new event");
      assert.equal(again.stats().tombstones, 0, "nothing before it was processed again");
      assert.equal(again.stats().skippedStale, 0, "nothing before it was processed again");
    } finally {
      await again.stop();
    }
    assert.equal((await consumeWithKcat(brokers, target)).length, 5);
  });
  await sim.close();
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("startEnricher() drops nothing while Up answers 429 and 503: it pauses and retries", async () => {
  const brokers = await testBrokers();
  const kafka = quietKafka(brokers);
  const { source, target } = topics();
  const { sim, client } = inProcessUp({ client: { maxRetries: 1 } });
  const ids = Array.from(
    { length: 8 },
    (_, i) => sim.bank.addTransaction({ amountCents: -(100 + i), description: `Shop ${i}` }).id,
  );
  await produceWebhookEvents(
    kafka,
    source,
    ids.map((transactionId) => ({ type: "TRANSACTION_CREATED" as const, transactionId })),
  );
  sim.injectFaults({ status: 429 }, 5);
  sim.injectFaults({ status: 503 }, 3);
  const enricher = await startEnricher({
    kafka,
    up: client,
    sourceTopic: source,
    targetTopic: target,
    groupId: `upbus-test-enricher-${crypto.randomUUID()}`,
    dataDir: await Deno.makeTempDir({ prefix: "upbus-enricher-" }),
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    logger: quiet,
  });
  try {
    await waitFor(() => enricher.stats().published === ids.length, "every transaction");
    assert.ok(enricher.stats().failures >= 3, `failures: ${enricher.stats().failures}`);
  } finally {
    await enricher.stop();
    await sim.close();
  }
  const records = await consumeWithKcat(brokers, target);
  assert.deepEqual(records.map((record) => record.key).sort(), [...ids].sort());
});

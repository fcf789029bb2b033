/**
 * Embedded mode end to end, with no Kafka: the Up simulator delivers signed webhooks to the real
 * service (embedded: events.db only), the embedded enricher turns them into full transactions
 * in the local log (pipeline.db), and the built-in consumers run on that log.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../lib/service/config.ts";
import { createLedgerConsumer } from "../../lib/consumers/ledger/ledger.ts";
import { createPositionConsumer } from "../../lib/consumers/position/position_consumer.ts";
import { startConsumer } from "../../lib/bus/runner.ts";
import { startEnricher } from "../../lib/enrich/enricher.ts";
import type { Enricher } from "../../lib/enrich/enricher.ts";
import { readTransactionRecord } from "../../lib/bus/transaction_record.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { startService } from "../../lib/service/service.ts";
import { type LocalLog, openLocalLog } from "../../lib/bus/local/local_log.ts";
import { localLogRecordSource } from "../../lib/bus/local/local_log_source.ts";
import { createUpClient, type UpClient } from "../../lib/up/client.ts";
import { createSimulatorControl, type SimulatorControl } from "../../lib/up_sim/control.ts";
import { type ServedUpSimulator, serveUpSimulator } from "../../lib/up_sim/server.ts";
import type { TransactionResource } from "../../lib/up/types.ts";
import { waitFor } from "../support/pipeline.ts";

const quiet = createLogger({ write: () => {} });
const TOPIC = "up.transactions";

interface EmbeddedPipeline {
  dataDir: string;
  sim: ServedUpSimulator;
  control: SimulatorControl;
  up: UpClient;
  log: LocalLog;
  /** Starts an enricher on the service's events.db (group `upbus-enricher`). */
  enrich(): Promise<Enricher>;
  /** Waits until the simulator delivered everything and the enricher caught up with it. */
  settle(enricher: Enricher, records: number): Promise<void>;
  /**
   * Waits until the simulator delivered everything and the enricher handled `events` of them,
   * published or skipped (a state it fetched twice is published once).
   */
  handled(enricher: Enricher, events: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The simulator, the service in embedded mode with the simulator's webhook, and a local log. */
async function embeddedPipeline(): Promise<EmbeddedPipeline> {
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-embedded-" });
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0, retryDelaysMs: [100, 500] });
  const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus");
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    UP_WEBHOOK_SECRETS: webhook.secretKey,
  };
  const service = await startService(loadConfig((name) => env[name]), { logger: quiet });
  assert.equal(service.relay, undefined, "embedded mode: no relay");
  webhook.url = `http://127.0.0.1:${service.address.port}/webhook`;
  const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
  // One retry inside the client, so that injected faults reach the enricher's own backoff.
  const up = createUpClient({
    token: sim.token,
    baseUrl: sim.baseUrl,
    maxRetries: 1,
    retryBaseMs: 5,
    retryMaxMs: 20,
    maxRateLimitWaitMs: 50,
  });
  const log = await openLocalLog(dataDir);
  return {
    dataDir,
    sim,
    control,
    up,
    log,
    enrich: () =>
      startEnricher({
        log,
        eventsPath: `${dataDir}/events.db`,
        up,
        pollMs: 50,
        initialBackoffMs: 50,
        maxBackoffMs: 200,
        logger: quiet,
      }),
    async settle(enricher, records) {
      await sim.idle();
      await waitFor(() => log.end(TOPIC) >= records, `${records} records in the local log`);
      const stats = enricher.stats();
      assert.ok(stats.published + stats.tombstones <= records, "nothing more than expected");
    },
    async handled(enricher, events) {
      await sim.idle();
      await waitFor(() => {
        const { published, tombstones, skippedStale } = enricher.stats();
        return published + tombstones + skippedStale >= events;
      }, `${events} events handled`);
    },
    async [Symbol.asyncDispose]() {
      log.close();
      await service.shutdown();
      await sim.shutdown();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Each key's latest state in the local log, as a reader of a compacted topic sees it. */
function latest(log: LocalLog): Map<string, TransactionResource | null> {
  const states = new Map<string, TransactionResource | null>();
  for (let from = 0;;) {
    const batch = log.read(TOPIC, { from, limit: 100 });
    if (batch.length === 0) return states;
    for (const message of batch) {
      const { id, transaction } = readTransactionRecord(message.key, message.value);
      states.set(id, transaction);
    }
    from = Number(batch.at(-1)!.offset) + 1;
  }
}

Deno.test("embedded mode enriches each simulated webhook event into the local log", async (t) => {
  await using pipeline = await embeddedPipeline();
  const { control, log } = pipeline;
  const enricher = await pipeline.enrich();
  try {
    let coffee: TransactionResource;
    await t.step("TRANSACTION_CREATED becomes the full transaction, HELD", async () => {
      coffee = await control.createTransaction({
        amount: "-12.50",
        description: "Campos Coffee",
        category: "restaurants-and-cafes",
      });
      await pipeline.settle(enricher, 1);
      const [record] = log.read(TOPIC);
      assert.equal(record.key, coffee.id);
      assert.equal(record.headers.upbus_source, "enricher");
      assert.equal(latest(log).get(coffee.id)?.attributes.status, "HELD");
      assert.equal(latest(log).get(coffee.id)?.attributes.amount.value, "-12.50");
    });
    await t.step("TRANSACTION_SETTLED updates it to SETTLED under the same key", async () => {
      await control.settleTransaction(coffee.id);
      await pipeline.settle(enricher, 2);
      assert.equal(latest(log).get(coffee.id)?.attributes.status, "SETTLED");
      assert.ok(latest(log).get(coffee.id)?.attributes.settledAt);
    });
    await t.step("TRANSACTION_DELETED becomes a tombstone", async () => {
      const deposit = await control.createTransaction({
        amount: "-200.00",
        description: "Hotel deposit",
      });
      await pipeline.settle(enricher, 3);
      await control.deleteTransaction(deposit.id);
      await pipeline.settle(enricher, 4);
      const [last] = log.read(TOPIC, { from: 3 });
      assert.equal(last.key, deposit.id);
      assert.equal(last.value, null);
      assert.equal(latest(log).get(deposit.id), null);
      assert.deepEqual(enricher.stats(), {
        published: 3,
        tombstones: 1,
        skippedStale: 0,
        ignored: 0,
        failures: 0,
      });
    });
  } finally {
    await enricher.stop();
  }
});

Deno.test("the embedded enricher drops nothing while Up answers 429 and 503: it retries", async () => {
  await using pipeline = await embeddedPipeline();
  const { sim, control, log } = pipeline;
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    ids.push(
      (await control.createTransaction({ amount: `-1.0${i}`, description: `Shop ${i}` })).id,
    );
  }
  await sim.idle();
  sim.injectFaults({ status: 429 }, 5);
  sim.injectFaults({ status: 503 }, 3);
  const enricher = await pipeline.enrich();
  try {
    await pipeline.settle(enricher, ids.length);
    assert.ok(enricher.stats().failures >= 2, `failures: ${enricher.stats().failures}`);
  } finally {
    await enricher.stop();
  }
  const records = log.read(TOPIC);
  // Up delivers concurrently: the order of arrival, not of creation, is the store's order.
  const keys = records.map((record) => record.key!);
  assert.deepEqual(keys.toSorted(), ids.toSorted(), "each once");
  assert.ok(records.every((record) => record.value !== null));
});

Deno.test("the embedded enricher resumes from its cursor after a restart, publishing nothing twice", async () => {
  await using pipeline = await embeddedPipeline();
  const { control, log } = pipeline;
  const first = await pipeline.enrich();
  try {
    await control.createTransaction({ amount: "-4.50", description: "Bakery" });
    await control.createTransaction({ amount: "-7.00", description: "Newsagent" });
    await pipeline.settle(first, 2);
  } finally {
    await first.stop();
  }
  assert.ok((log.committed("upbus-enricher", "events.db") ?? 0) > 2, "the cursor is committed");
  const again = await pipeline.enrich();
  try {
    // Several polls of the events it already enriched: none is published again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(log.end(TOPIC), 2);
    const later = await control.createTransaction({ amount: "-3.20", description: "Kiosk" });
    await pipeline.settle(again, 3);
    assert.equal(log.end(TOPIC), 3);
    assert.equal(log.read(TOPIC, { from: 2 })[0].key, later.id);
    assert.deepEqual(again.stats(), {
      published: 1,
      tombstones: 0,
      skippedStale: 0,
      ignored: 0,
      failures: 0,
    });
  } finally {
    await again.stop();
  }
});

Deno.test("the position and ledger consumers run on the local log", async (t) => {
  await using pipeline = await embeddedPipeline();
  const { sim, control, log, dataDir } = pipeline;
  const spending = sim.bank.accounts[0].id;
  const enricher = await pipeline.enrich();
  try {
    const coffee = await control.createTransaction({
      amount: "-12.50",
      description: "Campos Coffee",
      category: "restaurants-and-cafes",
    });
    await control.settleTransaction(coffee.id);
    await control.createTransaction({
      amount: "-84.20",
      description: "Woolworths",
      category: "groceries",
      status: "SETTLED",
    });
    await control.createTransaction({
      amount: "2500.00",
      description: "Salary",
      status: "SETTLED",
    });
    await control.createTransaction({ amount: "-9.99", description: "Still held" });
    const deposit = await control.createTransaction({ amount: "-200.00", description: "Deposit" });
    await control.deleteTransaction(deposit.id);
    // Seven events; a state fetched twice (the coffee settled before its CREATED was enriched,
    // the deposit gone before its own) is published once.
    await pipeline.handled(enricher, 7);

    const position = createPositionConsumer({
      endOffsets: { 0: String(log.end(TOPIC)) },
      logger: quiet,
    });
    const running = await startConsumer(position, {
      source: localLogRecordSource(log, { pollMs: 20 }),
    });
    try {
      await t.step("the position's figures are the hand-computed sums", async () => {
        await position.rebuilt;
        const [account] = position.position.accounts();
        assert.equal(account.accountId, spending);
        assert.equal(account.settledCents, -1250 - 8420 + 250_000);
        assert.equal(account.heldCents, -999);
        assert.equal(position.position.spend().month["restaurants-and-cafes"], 1250);
      });
      await t.step("the position follows a new transaction live", async () => {
        await control.createTransaction({ amount: "-5.00", description: "Bus" });
        await waitFor(() => position.position.accounts()[0].heldCents === -1499, "the bus");
      });
    } finally {
      await running.stop();
    }
    assert.equal(log.committed("upbus-position", TOPIC), null, "a replay commits nothing");

    await t.step("the ledger writes nothing twice after a restart", async () => {
      await pipeline.handled(enricher, 8);
      const records = log.end(TOPIC);
      const run = async (groupId: string) => {
        const ledger = await createLedgerConsumer({ dir: `${dataDir}/ledger` });
        const running = await startConsumer(ledger, {
          source: localLogRecordSource(log, { pollMs: 20 }),
          groupId,
        });
        try {
          await waitFor(
            () => log.committed(groupId, TOPIC) === log.end(TOPIC),
            "the ledger at the end of the log",
          );
        } finally {
          await running.stop();
        }
        return { written: ledger.written, handled: running.handled, ledger };
      };
      const first = await run("upbus-ledger");
      assert.equal(first.written, 3, "the settled coffee, groceries and salary");
      assert.equal(first.handled, records);
      const restarted = await run("upbus-ledger");
      assert.deepEqual([restarted.handled, restarted.written], [0, 0], "resumed at its offset");
      const fresh = await run("upbus-ledger-fresh");
      assert.deepEqual(
        [fresh.handled, fresh.written],
        [records, 0],
        "every record again, none kept",
      );
      const csv = (await Deno.readTextFile(first.ledger.csvPath)).trim().split("\n");
      assert.equal(csv.length, 4, "a header and three rows");
      const journal = await Deno.readTextFile(first.ledger.journalPath);
      assert.equal(journal.match(/; id:/g)?.length, 3);
    });
  } finally {
    await enricher.stop();
  }
});

/**
 * A stale state never overwrites a newer one, whoever writes it, in both modes: the enricher's
 * sink, backfill's and reconciliation's are separate sinks on one data directory (as separate
 * processes hold them), and what the topic holds last for each key is read back from the file
 * (embedded) or from the shared broker with kcat (Kafka).
 *
 * Permissions: as the test task (`--allow-run=kcat`, the shared test broker).
 */
import assert from "node:assert/strict";
import { kafkaTransactionSink } from "../../lib/bus/kafka/transaction_sink.ts";
import { openLocalLog } from "../../lib/bus/local/local_log.ts";
import { localLogTransactionSink } from "../../lib/bus/local/local_log_sink.ts";
import type { ConsumerMessage } from "../../lib/bus/consumer.ts";
import type { TransactionSink } from "../../lib/bus/sink.ts";
import {
  tombstoneRecord,
  type TransactionRecord,
  transactionRecord,
} from "../../lib/bus/transaction_record.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import type { TransactionResource } from "../../lib/up/types.ts";
import { openReconcileSink } from "../../lib/webhook/recovery/reconcile_sink.ts";
import { consumeWithKcat } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { quietKafka } from "../support/pipeline.ts";

const quiet = createLogger({ write: () => {} });

function transaction(id: string, status: "HELD" | "SETTLED", amount: string): TransactionRecord {
  const resource = {
    type: "transactions",
    id,
    attributes: { status, amount: { value: amount }, description: "Campos Coffee" },
  } as unknown as TransactionResource;
  return transactionRecord(resource, "test");
}

/** The webhook event an enricher's record came from, at `offset` of `events.db`. */
function event(offset: number): ConsumerMessage {
  return {
    topic: "events.db",
    partition: 0,
    offset: String(offset),
    key: null,
    value: null,
    headers: {},
    timestamp: "0",
  };
}

/** What one mode gives the test: the three writers' sinks and the topic's latest per key. */
interface Mode {
  enricher: TransactionSink;
  backfill: TransactionSink;
  reconcile: TransactionSink;
  /** Each key's last record: its status, amount, or `null` for a tombstone. */
  latest(): Promise<Map<string, string | null>>;
  /** Records of the topic in all. */
  count(): Promise<number>;
  /** The enricher's committed position, embedded mode only. */
  committed?(): number | null;
  close(): Promise<void>;
}

function summary(value: string | null): string | null {
  if (value === null) return null;
  const parsed = JSON.parse(value);
  return `${parsed.attributes.status} ${parsed.attributes.amount.value}`;
}

async function embedded(dataDir: string): Promise<Mode> {
  const topic = "up.transactions";
  // The enricher's process and backfill's each hold their own connection to pipeline.db.
  const enricherLog = await openLocalLog(dataDir);
  const backfillLog = await openLocalLog(dataDir);
  const reconcile = await openReconcileSink({
    dataDir,
    kafkaBrokers: [],
    kafkaClientId: "upbus-test",
    kafkaConnection: {},
    kafkaTopicPartitions: 1,
    kafkaReplicationFactor: -1,
  }, { topic, logger: quiet });
  const read = () => enricherLog.read(topic, { limit: 10_000 });
  return {
    enricher: localLogTransactionSink(enricherLog, {
      topic,
      groupId: "upbus-enricher",
      sourceName: "events.db",
    }),
    backfill: localLogTransactionSink(backfillLog, { topic }),
    reconcile,
    latest() {
      const latest = new Map<string, string | null>();
      for (const record of read()) {
        latest.set(record.key!, summary(record.value && new TextDecoder().decode(record.value)));
      }
      return Promise.resolve(latest);
    },
    count: () => Promise.resolve(read().length),
    committed: () => enricherLog.committed("upbus-enricher", "events.db"),
    async close() {
      await reconcile.close();
      enricherLog.close();
      backfillLog.close();
    },
  };
}

async function kafka(dataDir: string): Promise<Mode> {
  const brokers = await testBrokers();
  const topic = `upbus-test-order-${crypto.randomUUID()}`;
  const sink = () =>
    kafkaTransactionSink(quietKafka(brokers), { topic, partitions: 3, dataDir, logger: quiet });
  const enricher = await sink();
  const backfill = await sink();
  const reconcile = await openReconcileSink({
    dataDir,
    kafkaBrokers: brokers.split(","),
    kafkaClientId: "upbus-test",
    kafkaConnection: {},
    kafkaTopicPartitions: 3,
    kafkaReplicationFactor: -1,
  }, { topic, logger: quiet });
  const read = async () =>
    (await consumeWithKcat(brokers, topic)).sort((a, b) => a.offset - b.offset);
  return {
    enricher,
    backfill,
    reconcile,
    async latest() {
      const latest = new Map<string, string | null>();
      for (const record of await read()) latest.set(record.key!, summary(record.payload));
      return latest;
    },
    count: async () => (await read()).length,
    async close() {
      await Promise.all([enricher.close(), backfill.close(), reconcile.close()]);
    },
  };
}

for (const [name, open] of [["embedded", embedded], ["kafka", kafka]] as const) {
  Deno.test(`${name}: an older state published after a newer one is skipped, by every writer`, async (t) => {
    const dataDir = await Deno.makeTempDir({ prefix: `upbus-order-${name}-` });
    const mode = await open(dataDir);
    try {
      await t.step("backfill's HELD page after the enricher's SETTLED leaves SETTLED", async () => {
        assert.equal(
          await mode.enricher.publish(transaction("tx-1", "SETTLED", "-4.50"), event(0)),
          "published",
        );
        // The page was fetched before tx-1 settled.
        const outcomes = await mode.backfill.publishAll([
          transaction("tx-1", "HELD", "-4.50"),
          transaction("tx-4", "HELD", "-9.00"),
        ]);
        assert.deepEqual(outcomes, ["skipped-stale", "published"]);
        const latest = await mode.latest();
        assert.equal(latest.get("tx-1"), "SETTLED -4.50");
        assert.equal(latest.get("tx-4"), "HELD -9.00");
      });
      await t.step("a HELD after the tombstone leaves the tombstone, from any writer", async () => {
        await mode.enricher.publish(transaction("tx-2", "HELD", "-20.00"), event(1));
        await mode.enricher.publish(tombstoneRecord("tx-2", "enricher"), event(2));
        assert.equal(
          await mode.backfill.publishAll([transaction("tx-2", "HELD", "-20.00")]).then((o) => o[0]),
          "skipped-stale",
        );
        assert.equal(
          await mode.reconcile.publish(transaction("tx-2", "SETTLED", "-20.00")),
          "skipped-stale",
          "nothing comes after a tombstone",
        );
        assert.equal(
          await mode.enricher.publish(transaction("tx-2", "HELD", "-20.00"), event(3)),
          "skipped-stale",
          "a lagging enricher neither",
        );
        assert.equal((await mode.latest()).get("tx-2"), null);
      });
      await t.step(
        "reconciliation's HELD after the enricher's SETTLED leaves SETTLED",
        async () => {
          await mode.enricher.publish(transaction("tx-5", "SETTLED", "-3.00"), event(4));
          assert.equal(
            await mode.reconcile.publish(transaction("tx-5", "HELD", "-3.00")),
            "skipped-stale",
          );
          assert.equal((await mode.latest()).get("tx-5"), "SETTLED -3.00");
        },
      );
      await t.step("the same state with another value is published; a repeat is not", async () => {
        await mode.enricher.publish(transaction("tx-3", "HELD", "-4.50"), event(5));
        const before = await mode.count();
        assert.equal(
          await mode.backfill.publishAll([transaction("tx-3", "HELD", "-4.50")]).then((o) => o[0]),
          "skipped-stale",
          "the same HELD again",
        );
        assert.equal(
          await mode.enricher.publish(transaction("tx-3", "HELD", "-5.00"), event(6)),
          "published",
          "a tip added while held",
        );
        assert.equal(await mode.count(), before + 1);
        assert.equal((await mode.latest()).get("tx-3"), "HELD -5.00");
      });
      if (mode.committed !== undefined) {
        await t.step("the enricher's cursor moves on past a skipped record", async () => {
          assert.equal(
            await mode.enricher.publish(transaction("tx-3", "HELD", "-5.00"), event(41)),
            "skipped-stale",
          );
          assert.equal(mode.committed!(), 42);
        });
      }
    } finally {
      await mode.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

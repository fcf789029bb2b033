/**
 * A consumer group's position, in both modes: a new group keeps the start it was given (the end:
 * new records only) from its first second, so records appended while it was stopped before its
 * first record are handled after the restart; and, in the local log, one process reads a group
 * at a time (a second one waits and takes over, a cursor never moves back, a dead holder's lease
 * expires).
 *
 * Permissions: `--allow-net` (the shared test broker), `--allow-read`/`--allow-write` (/tmp).
 */
import assert from "node:assert/strict";
import { Partitioners } from "kafkajs";
import type { ConsumerMessage } from "../../lib/bus/consumer.ts";
import { kafkaRecordSource } from "../../lib/bus/kafka/record_source.ts";
import { LeaseLostError, openLocalLog } from "../../lib/bus/local/local_log.ts";
import { localLogRecordSource } from "../../lib/bus/local/local_log_source.ts";
import { startConsumer } from "../../lib/bus/runner.ts";
import { ensureTransactionsTopic } from "../../lib/bus/transaction_record.ts";
import { testBrokers } from "../support/kafka.ts";
import { quietKafka, waitFor } from "../support/pipeline.ts";

const TOPIC = "up.transactions";

/** A consumer that starts at the end, as notify and console do, and remembers what it saw. */
function newRecordsOnly(seen: string[]) {
  return {
    name: "positions",
    topic: TOPIC,
    fromBeginning: false,
    handle: (message: ConsumerMessage) => void seen.push(message.key ?? ""),
  };
}

Deno.test("local log: a new group started at the end keeps that position before its first record", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-position-" });
  const log = await openLocalLog(dir);
  try {
    log.append(TOPIC, [{ key: "before-1", value: "{}" }, { key: "before-2", value: "{}" }]);
    const seen: string[] = [];
    const source = localLogRecordSource(log, { pollMs: 10 });
    const first = await startConsumer(newRecordsOnly(seen), { source });
    assert.match(first.start, /^from the end: new records only/);
    await first.stop();
    // While it is stopped, before it handled anything:
    log.append(TOPIC, [{ key: "tx-1", value: "{}" }, { key: "tx-2", value: "{}" }]);
    const second = await startConsumer(newRecordsOnly(seen), { source });
    assert.match(second.start, /^from its committed position \(offset 2\)/);
    await waitFor(() => seen.length >= 2, "both records");
    await second.stop();
    assert.deepEqual(seen, ["tx-1", "tx-2"]);
  } finally {
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kafka: a new group started at the end keeps that position on every partition before its first record", async () => {
  const brokers = await testBrokers();
  const kafka = quietKafka(brokers);
  const topic = `upbus-test-position-${crypto.randomUUID()}`;
  await ensureTransactionsTopic(kafka, topic, { partitions: 3 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const send = (keys: string[]) =>
    producer.send({ topic, acks: -1, messages: keys.map((key) => ({ key, value: "{}" })) });
  try {
    await send(["before-1", "before-2", "before-3"]);
    const seen: string[] = [];
    const consumer = { ...newRecordsOnly(seen), name: `position-${crypto.randomUUID()}`, topic };
    const source = kafkaRecordSource(kafka, { maxWaitTimeMs: 100 });
    const first = await startConsumer(consumer, { source });
    assert.match(first.start, /^from the end: new records only/);
    await first.stop();
    // Ten keys land on all three partitions while it is stopped.
    const keys = Array.from({ length: 10 }, (_, index) => `tx-${index}`);
    await send(keys);
    const second = await startConsumer(consumer, { source });
    assert.equal(second.start, "from its committed positions");
    await waitFor(() => seen.length >= keys.length, "all ten records", 30_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await second.stop();
    assert.deepEqual(seen.toSorted(), keys.toSorted());
  } finally {
    await producer.disconnect();
  }
});

Deno.test("local log: one process reads a group at a time; a second waits and takes over", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-lease-" });
  // Two open logs on one file with their own owner ids: two processes as far as leases go.
  const one = await openLocalLog(dir, { owner: "one" });
  const two = await openLocalLog(dir, { owner: "two" });
  try {
    const keys = Array.from({ length: 40 }, (_, index) => ({ key: `tx-${index}`, value: "{}" }));
    one.append(TOPIC, keys);
    const handledBy: Array<[string, string]> = [];
    const consumer = (who: string) => ({
      name: "ledger-like",
      topic: TOPIC,
      handle: async (message: ConsumerMessage) => {
        handledBy.push([who, message.key ?? ""]);
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });
    const first = await startConsumer(consumer("one"), {
      source: localLogRecordSource(one, { pollMs: 10, batchSize: 5, leaseMs: 600 }),
    });
    const second = await startConsumer(consumer("two"), {
      source: localLogRecordSource(two, { pollMs: 10, batchSize: 5, leaseMs: 600 }),
    });

    await t.step("the second process waits and says who reads the group", () => {
      assert.match(second.start, /^waiting: another process \(one\) reads upbus-ledger-like/);
    });

    await t.step("the first stops; the second takes over where it was, nothing twice", async () => {
      await waitFor(() => handledBy.length >= 10, "ten records");
      assert.ok(handledBy.every(([who]) => who === "one"), "only the holder reads");
      await first.stop();
      await waitFor(() => new Set(handledBy.map(([, key]) => key)).size === 40, "all 40");
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(handledBy.length, 40, "each record once");
      assert.ok(handledBy.some(([who]) => who === "two"), "the second took over");
      await second.stop();
    });

    await t.step("a commit by a process that does not hold the lease is refused", () => {
      one.acquire("upbus-other", TOPIC, 60_000);
      one.commit("upbus-other", TOPIC, 7);
      assert.throws(() => two.commit("upbus-other", TOPIC, 9), LeaseLostError);
      assert.equal(two.committed("upbus-other", TOPIC), 7);
    });

    await t.step("a cursor never moves back", () => {
      one.commit("upbus-other", TOPIC, 3);
      assert.equal(one.committed("upbus-other", TOPIC), 7);
    });

    await t.step("a holder that died lets its lease expire; another takes over", async () => {
      // "one" holds upbus-dead and never renews it, as a process killed with -9.
      one.acquire("upbus-dead", TOPIC, 400);
      const seen: string[] = [];
      const took = Date.now();
      const heir = await startConsumer(
        { name: "dead", topic: TOPIC, handle: (message) => void seen.push(message.key ?? "") },
        { source: localLogRecordSource(two, { pollMs: 10, leaseMs: 600 }) },
      );
      assert.match(heir.start, /^waiting/);
      await waitFor(() => seen.length === 40, "all 40 after the lease expired");
      assert.ok(Date.now() - took >= 300, "not before the lease expired");
      await heir.stop();
    });
  } finally {
    one.close();
    two.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `consume console --last N`'s history: each transaction's latest record, deleted ones left out,
 * newest last, read from a real Kafka topic to its end without committing.
 *
 * Permissions: as the test task (`--allow-run=java,mvn`, loopback).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Partitioners } from "kafkajs";
import { latestTransactions, readTopicNow } from "../../../lib/consumers/console/history.ts";
import { kafkaRecordSource } from "../../../lib/bus/kafka/record_source.ts";
import {
  ensureTransactionsTopic,
  readTransactionRecord,
  tombstoneRecord,
  transactionRecord,
} from "../../../lib/bus/transaction_record.ts";
import { testBrokers } from "../../support/kafka.ts";
import { inProcessUp, quietKafka } from "../../support/pipeline.ts";

Deno.test("the last N transactions of a Kafka topic: latest state, no deleted ones, newest last", async () => {
  const kafka = quietKafka(await testBrokers());
  const topic = `upbus-history-${crypto.randomUUID()}`;
  await ensureTransactionsTopic(kafka, topic, { partitions: 3, replicationFactor: -1 });
  const { sim, client } = inProcessUp({ seedTransactions: 5 });
  const transactions = sim.bank.transactionsNewestFirst().reverse();
  const records = [];
  for (const transaction of transactions) {
    records.push(transactionRecord(await client.getTransaction(transaction.id), "test"));
  }
  records.push(tombstoneRecord(transactions[4].id, "test"));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: records.map((record) => ({
        ...record,
        value: record.value === null ? null : Buffer.from(record.value),
      })),
    });
  } finally {
    await producer.disconnect();
  }
  const history = await readTopicNow(kafkaRecordSource(kafka), topic);
  assert.equal(history.length, 6);
  const last = latestTransactions(history, 2).map((record) =>
    readTransactionRecord(record.key, record.value).transaction?.attributes.description
  );
  assert.deepEqual(last, [transactions[2].description, transactions[3].description]);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({
      groupId: "upbus-console-history",
      topics: [topic],
    });
    assert.ok(committed.partitions.every((entry) => entry.offset === "-1"), "nothing committed");
  } finally {
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  }
});

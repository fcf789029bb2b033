/**
 * The Kafka transaction sink replaces a failed producer, as the relay does: after a send fails,
 * the next publish connects a fresh one. The send is made to fail by disconnecting the sink's
 * producer underneath it; the record is then read back from the shared broker with kcat.
 *
 * Permissions: as the test task (`--allow-run=kcat`, the shared test broker).
 */
import assert from "node:assert/strict";
import { UpbusProducer } from "../../../lib/bus/kafka/producer.ts";
import { kafkaTransactionSink } from "../../../lib/bus/kafka/transaction_sink.ts";
import { transactionRecord } from "../../../lib/bus/transaction_record.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import type { TransactionResource } from "../../../lib/up/types.ts";
import { consumeWithKcat } from "../../support/consume.ts";
import { testBrokers } from "../../support/kafka.ts";
import { quietKafka } from "../../support/pipeline.ts";

function held(id: string): ReturnType<typeof transactionRecord> {
  const resource = {
    type: "transactions",
    id,
    attributes: { status: "HELD", amount: { value: "-4.50" } },
  } as unknown as TransactionResource;
  return transactionRecord(resource, "enricher");
}

Deno.test("kafkaTransactionSink() publishes with a fresh producer after a send failed", async () => {
  const brokers = await testBrokers();
  const topic = `upbus-test-sink-${crypto.randomUUID()}`;
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-sink-" });
  const producers: UpbusProducer[] = [];
  const sink = await kafkaTransactionSink(quietKafka(brokers), {
    topic,
    partitions: 1,
    dataDir,
    logger: createLogger({ write: () => {} }),
    connect: async (kafka) => {
      const producer = await UpbusProducer.connect(kafka);
      producers.push(producer);
      return producer;
    },
  });
  try {
    assert.equal(await sink.publish(held("tx-1")), "published");
    // The producer's connection goes away underneath the sink (a broker restart, a network cut).
    await producers[0].disconnect();
    await assert.rejects(sink.publish(held("tx-2")), "the send on the broken producer fails");
    // The enricher's runner retries the same record after a backoff.
    assert.equal(await sink.publish(held("tx-2")), "published");
    assert.equal(producers.length, 2, "a second producer was connected");
  } finally {
    await sink.close();
    await Deno.remove(dataDir, { recursive: true });
  }
  const records = await consumeWithKcat(brokers, topic);
  assert.deepEqual(records.map((record) => record.key), ["tx-1", "tx-2"]);
});

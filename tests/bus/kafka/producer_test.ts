/**
 * The producer's partition-by-partition accounting, driven by a kafkajs stand-in that answers
 * for only some partitions, as kafkajs 2.2.4 does after a leader moved (kafkajs#1303). The real
 * failure, on a real 3-node cluster, is in `tests/relay/leader_failure_test.ts`.
 */
import assert from "node:assert/strict";
import type { Kafka, ProducerBatch, RecordMetadata } from "kafkajs";
import { UnacknowledgedError, UpbusProducer } from "../../../lib/bus/kafka/producer.ts";

/** A client whose producer drops the partitions named in `drops`, one list per send. */
function flakyKafka(drops: number[][]) {
  const sent: Array<Array<{ partition: number; key: string }>> = [];
  const kafka = {
    admin: () => ({
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      fetchTopicMetadata: ({ topics }: { topics: string[] }) =>
        Promise.resolve({
          topics: topics.map((name) => ({
            name,
            partitions: [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1 })),
          })),
        }),
    }),
    producer: () => ({
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      sendBatch: ({ topicMessages }: ProducerBatch): Promise<RecordMetadata[]> => {
        const dropped = drops[sent.length] ?? [];
        const messages = topicMessages!.flatMap(({ messages }) => messages);
        sent.push(messages.map((m) => ({ partition: m.partition!, key: String(m.key) })));
        const partitions = [...new Set(messages.map((m) => m.partition!))];
        return Promise.resolve(
          partitions.filter((p) => !dropped.includes(p)).map((partition) => ({
            topicName: "events",
            partition,
            errorCode: 0,
          })),
        );
      },
    }),
  } as unknown as Kafka;
  return { kafka, sent };
}

const records = Array.from({ length: 12 }, (_, i) => ({
  topic: "events",
  message: { key: `tx-${i}`, value: `event ${i}` },
}));

Deno.test("UpbusProducer.send() re-sends only the partitions the broker did not acknowledge", async () => {
  const { kafka, sent } = flakyKafka([[1], []]);
  const producer = await UpbusProducer.connect(kafka);
  const acknowledged = await producer.send(records);
  assert.deepEqual(acknowledged, records.map(() => true));
  assert.equal(sent.length, 2, "one send, then one for the missing partition");
  assert.ok(sent[1].length > 0 && sent[1].every((m) => m.partition === 1));
  assert.deepEqual(
    sent[1].map((m) => m.key),
    sent[0].filter((m) => m.partition === 1).map((m) => m.key),
    "the missing partition's records, in their order",
  );
  await producer.disconnect();
});

Deno.test("UpbusProducer.send() reports what is still unacknowledged after every attempt", async () => {
  const { kafka, sent } = flakyKafka([[0], [0], [0], [0], [0], [0]]);
  const producer = await UpbusProducer.connect(kafka, { attempts: 3 });
  const acknowledged = await producer.send(records);
  assert.equal(sent.length, 3);
  const partitionOf = new Map(sent[0].map((m) => [m.key, m.partition]));
  records.forEach((record, i) => {
    assert.equal(acknowledged[i], partitionOf.get(record.message.key) !== 0, record.message.key);
  });
  await assert.rejects(() => producer.sendAll(records), UnacknowledgedError);
  await producer.disconnect();
});

Deno.test("UpbusProducer places a keyed record where kafkajs's default partitioner would", async () => {
  const { kafka, sent } = flakyKafka([]);
  const producer = await UpbusProducer.connect(kafka);
  await producer.send(records);
  // From Apache Kafka's own client (kafka-clients 4.4.0), for keys "tx-0" to "tx-11" over 3
  // partitions: `Utils.toPositive(Utils.murmur2(key.getBytes(UTF_8))) % 3`.
  assert.deepEqual(
    sent[0].map((m) => m.partition),
    [1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1],
  );
  await producer.disconnect();
});

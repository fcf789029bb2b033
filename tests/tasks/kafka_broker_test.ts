/**
 * Tests of the development Kafka broker: a real KRaft broker that kafkajs and kcat both use,
 * and whose data survives a restart.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Admin, Kafka, logLevel, type Message } from "kafkajs";
import { brokerStatus } from "../../tasks/kafka_broker.ts";
import {
  startTestBroker,
  TEST_BROKER_DATA_DIR,
  TEST_BROKER_PORT,
  testBrokers,
} from "../support/kafka.ts";

function client(bootstrap: string): Kafka {
  return new Kafka({
    clientId: "upbus-broker-test",
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 100 },
  });
}

async function createTopic(admin: Admin, topic: string, numPartitions = 1): Promise<void> {
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  assert.equal(created, true, `topic ${topic} already existed`);
}

/** Produces with the idempotent producer, acks from all replicas, one awaited send at a time. */
async function produce(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (const message of messages) {
      const [result] = await producer.send({ topic, acks: -1, messages: [message] });
      assert.equal(result.errorCode, 0);
    }
  } finally {
    await producer.disconnect();
  }
}

interface Received {
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Reads `count` records with a consumer group from the beginning, committing as it goes. */
async function consume(
  kafka: Kafka,
  topic: string,
  groupId: string,
  count: number,
): Promise<Received[]> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const received: Received[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Cannot consume ${topic}: got ${received.length} of ${count}`)),
        30_000,
      );
      consumer.run({
        autoCommit: true,
        eachMessage: ({ message }) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) {
            headers[name] = String(value);
          }
          received.push({
            key: message.key?.toString() ?? "",
            value: message.value?.toString() ?? "",
            headers,
          });
          if (received.length >= count) resolve();
          return Promise.resolve();
        },
      }).catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return received;
}

async function kcat(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("kcat", { args, stdin: "null" })
    .output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, `kcat ${args.join(" ")} failed: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

Deno.test("testBrokers() gives a KRaft broker that kafkajs and kcat both use", async (t) => {
  const bootstrap = await testBrokers();
  assert.equal(bootstrap, `127.0.0.1:${TEST_BROKER_PORT}`);
  assert.equal(await testBrokers(), bootstrap, "a second call reuses the same broker");

  const kafka = client(bootstrap);
  const topic = `broker-test-${crypto.randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await t.step("admin creates a topic", async () => {
      await createTopic(admin, topic);
      assert.ok((await admin.listTopics()).includes(topic));
    });

    await t.step("an idempotent producer writes with acks -1", async () => {
      await produce(kafka, topic, [
        {
          key: "txn-1",
          value: '{"amount":"12.50"}',
          headers: { "event-type": "TRANSACTION_CREATED" },
        },
        { key: "txn-2", value: "second record", headers: { "event-type": "PING", trace: "abc" } },
      ]);
    });

    await t.step("a consumer group reads them back and commits its offset", async () => {
      const groupId = `${topic}-group`;
      const received = await consume(kafka, topic, groupId, 2);
      assert.deepEqual(received, [
        {
          key: "txn-1",
          value: '{"amount":"12.50"}',
          headers: { "event-type": "TRANSACTION_CREATED" },
        },
        { key: "txn-2", value: "second record", headers: { "event-type": "PING", trace: "abc" } },
      ]);
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.equal(offsets.partitions[0].offset, "2");
    });

    await t.step("kcat reads the same keys, values and headers", async () => {
      const common = ["-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q"];
      assert.equal(
        await kcat([...common, "-f", "%k %s\n"]),
        'txn-1 {"amount":"12.50"}\ntxn-2 second record\n',
      );
      assert.equal(
        await kcat([...common, "-f", "%h\n"]),
        "event-type=TRANSACTION_CREATED\nevent-type=PING,trace=abc\n",
      );
    });

    await t.step("the shared broker is owned by this test process", async () => {
      const status = await brokerStatus({ dataDir: TEST_BROKER_DATA_DIR, port: TEST_BROKER_PORT });
      // Started here (owned by this process), or reused from `deno task kafka start`.
      assert.ok(status.listening);
      if (status.state === "running") assert.ok(status.owners?.includes(Deno.pid));
    });
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
});

Deno.test("a broker stopped and started again keeps its topics, records and offsets", async () => {
  await using broker = await startTestBroker();
  const kafka = client(broker.bootstrap);
  const topic = "restart";
  const groupId = "restart-group";
  const admin = kafka.admin();
  await admin.connect();
  try {
    await createTopic(admin, topic, 3);
  } finally {
    await admin.disconnect();
  }
  const batch = (from: number) =>
    Array.from({ length: 10 }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` }));
  await produce(kafka, topic, batch(0));
  assert.equal((await consume(kafka, topic, groupId, 10)).length, 10);

  const pid = broker.pid;
  await broker.stop();
  assert.equal(broker.running, false);
  const stopped = await brokerStatus({ dataDir: broker.dataDir });
  assert.equal(stopped.state, "stopped");
  assert.equal(stopped.listening, false);

  await broker.start();
  assert.notEqual(broker.pid, pid);
  await produce(kafka, topic, batch(10));
  // The group resumes after its committed offsets: only the new records come.
  const resumed = await consume(kafka, topic, groupId, 10);
  assert.deepEqual(resumed.map((r) => r.key).sort(), batch(10).map((m) => m.key).sort());
  // A new group sees everything written before and after the restart.
  const all = await consume(kafka, topic, `${groupId}-2`, 20);
  assert.deepEqual(
    all.map((r) => r.value).sort(),
    [...batch(0), ...batch(10)].map((m) => m.value).sort(),
  );
});

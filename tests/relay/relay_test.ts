import assert from "node:assert/strict";
import { createLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { startRelayThread } from "../../lib/relay/relay_thread.ts";
import type { EventStore } from "../../lib/store/event_store.ts";
import { signBody } from "../../lib/webhook/signature.ts";
import { eventBody, readTestdata, SECRET, signedPost, testApp } from "../support/app.ts";
import { consumeWithKafkajs, consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";

const decoder = new TextDecoder();
const quiet = createLogger({ write: () => {} });

Deno.test("the relay publishes each event byte for byte, keyed by transaction, with CloudEvents headers", async () => {
  const brokers = await testBrokers();
  const topic = `upbus-test-${crypto.randomUUID()}`;
  await using t = await testApp();
  const bodies = {
    created: await readTestdata("transaction_created.raw.json"),
    ping: await readTestdata("ping.raw.json"),
    deleted: await readTestdata("deleted.raw.json"),
  };
  for (const body of Object.values(bodies)) {
    assert.equal((await t.app.request("/webhook", await signedPost(body))).status, 200);
  }
  assert.equal((await t.app.request("/webhook", await signedPost("garbage"))).status, 200);
  assert.equal(
    (await t.app.request("/webhook", await signedPost(bodies.created))).status,
    200,
    "a redelivery is acknowledged",
  );

  const metrics = createMetrics();
  const relay = startRelayThread(t.store, {
    brokers: [brokers],
    clientId: "upbus-test",
    topic,
    partitions: 2,
    logLevel: "error",
    logger: quiet,
    metrics,
  });
  try {
    await relay.drained(60_000);
  } finally {
    await relay.stop();
  }
  assert.equal(metrics.published.value(), 4);
  assert.equal(t.store.counts().unpublished, 0);

  const viaKafkajs = await consumeWithKafkajs(brokers, topic, { count: 3 });
  const viaKcat = await consumeWithKcat(brokers, topic);
  assert.equal(viaKafkajs.length, 3);
  assert.equal(viaKcat.length, 3, "stored and published once despite the redelivery");

  const created = viaKcat.find((r) => r.key === "169c1684-45c7-41c1-95fa-97082b319e6c");
  assert.ok(created, "TRANSACTION_CREATED is keyed by its transaction id");
  assert.equal(created.payload, decoder.decode(bodies.created), "value is the exact signed body");
  const headers = kcatHeaders(created);
  assert.equal(headers.ce_specversion, "1.0");
  assert.equal(headers.ce_id, "011308c1-861c-4d04-ba85-f867eadf202d");
  assert.equal(headers.ce_type, "au.com.up.webhook.transaction.created");
  assert.equal(headers.ce_time, "2024-08-05T12:20:07+10:00");
  assert.equal(headers.up_signature, await signBody(bodies.created, SECRET));

  const ping = viaKafkajs.find((r) => r.headers.ce_type === "au.com.up.webhook.ping");
  assert.ok(ping);
  assert.equal(ping.key, "973606bb-ad40-426d-9bd8-d76ab70cd038", "PING is keyed by its event id");
  assert.deepEqual(ping.value, bodies.ping);
  const deleted = viaKafkajs.find((r) =>
    r.headers.ce_type === "au.com.up.webhook.transaction.deleted"
  );
  assert.deepEqual(deleted?.value, bodies.deleted);

  const dead = await consumeWithKcat(brokers, `${topic}.dlq`);
  assert.equal(dead.length, 1);
  assert.equal(dead[0].payload, "garbage");
  assert.match(kcatHeaders(dead[0]).upbus_dead_letter_reason, /not UTF-8 JSON/);
});

Deno.test("a transaction's events keep their order in one partition", async () => {
  const brokers = await testBrokers();
  const topic = `upbus-test-${crypto.randomUUID()}`;
  await using t = await testApp();
  const types = ["TRANSACTION_CREATED", "TRANSACTION_SETTLED", "TRANSACTION_DELETED"];
  for (const transaction of ["tx-a", "tx-b", "tx-c", "tx-d"]) {
    for (const type of types) {
      const body = eventBody({ id: `${transaction}-${type}`, type, transactionId: transaction });
      assert.equal((await t.app.request("/webhook", await signedPost(body))).status, 200);
    }
  }
  const relay = startRelayThread(t.store, {
    brokers: [brokers],
    clientId: "upbus-test",
    topic,
    partitions: 4,
    batchSize: 5,
    logLevel: "error",
    logger: quiet,
    metrics: createMetrics(),
  });
  await relay.drained(60_000).finally(() => relay.stop());
  const records = await consumeWithKcat(brokers, topic);
  assert.equal(records.length, 12);
  for (const transaction of ["tx-a", "tx-b", "tx-c", "tx-d"]) {
    const mine = records.filter((r) => r.key === transaction);
    assert.equal(new Set(mine.map((r) => r.partition)).size, 1);
    assert.deepEqual(
      mine.sort((a, b) => a.offset - b.offset).map((r) => kcatHeaders(r).ce_id),
      types.map((type) => `${transaction}-${type}`),
    );
  }
});

Deno.test("events stored in embedded mode are relayed once brokers are configured", async () => {
  const brokers = await testBrokers();
  const topic = `upbus-test-${crypto.randomUUID()}`;
  await using t = await testApp();
  for (let i = 0; i < 25; i++) {
    const body = eventBody({ id: `backlog-${i}`, type: "PING" });
    assert.equal((await t.app.request("/webhook", await signedPost(body))).status, 200);
  }
  assert.equal(t.store.counts().unpublished, 25);
  const relay = startRelayThread(t.store, {
    brokers: [brokers],
    clientId: "upbus-test",
    topic,
    logLevel: "error",
    logger: quiet,
    metrics: createMetrics(),
  });
  await relay.drained(60_000).finally(() => relay.stop());
  assert.equal(t.store.counts().unpublished, 0);
  const ids = (await consumeWithKcat(brokers, topic)).map((r) => kcatHeaders(r).ce_id).sort();
  assert.deepEqual(ids, Array.from({ length: 25 }, (_, i) => `backlog-${i}`).sort());
});

Deno.test("a relay worker that dies is replaced, and stop() ends the cycle", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  // A directory where the database should be: every worker dies opening it.
  const brokenStore = { path: dir, onCommit: () => () => {} } as unknown as EventStore;
  const relay = startRelayThread(brokenStore, {
    brokers: ["127.0.0.1:1"],
    clientId: "upbus-test",
    topic: "never-used",
    logLevel: "error",
    logger: createLogger({ write: (line) => lines.push(line) }),
    metrics: createMetrics(),
  });
  const deadline = Date.now() + 15_000;
  while (lines.filter((line) => line.includes("relay worker died")).length < 2) {
    assert.ok(Date.now() < deadline, "the worker was not replaced");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(relay.status().connected, false);
  assert.match(relay.status().lastError ?? "", /relay worker died/);
  await relay.stop(100);
  const after = lines.length;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(lines.length, after, "no worker is started after stop()");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a commit wakes the relay only while it waits for one", async (t) => {
  await using app = await testApp();
  const post = async (id: string) => {
    const body = eventBody({ id, type: "PING" });
    assert.equal((await app.app.request("/webhook", await signedPost(body))).status, 200);
  };

  await t.step("a relay that is not waiting (here: backing off) is sent no wake-up", async () => {
    const metrics = createMetrics();
    const relay = startRelayThread(app.store, {
      brokers: ["127.0.0.1:1"],
      clientId: "upbus-test",
      topic: "never-used",
      initialBackoffMs: 60_000,
      logLevel: "error",
      logger: quiet,
      metrics,
    });
    try {
      const deadline = Date.now() + 30_000;
      while (relay.status().state !== "unreachable") {
        assert.ok(Date.now() < deadline, "the relay did not find the broker unreachable");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (let n = 0; n < 20; n++) await post(`backing-off-${n}`);
      assert.equal(app.store.stats().commits >= 20, true);
      assert.equal(metrics.relayWakeups.value(), 0, "20 commits, no wake-up");
    } finally {
      await relay.stop(100);
    }
  });

  await t.step("a waiting relay is woken by each commit (its idle check is far off)", async () => {
    const brokers = await testBrokers();
    const metrics = createMetrics();
    const relay = startRelayThread(app.store, {
      brokers: [brokers],
      clientId: "upbus-test",
      topic: `upbus-test-${crypto.randomUUID()}`,
      idleCheckMs: 600_000,
      logLevel: "error",
      logger: quiet,
      metrics,
    });
    const caughtUp = async (what: string) => {
      const deadline = Date.now() + 60_000;
      while (app.store.counts().unpublished > 0) {
        assert.ok(Date.now() < deadline, `${what}: not published`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await caughtUp("the backlog");
      for (let n = 0; n < 5; n++) {
        // Once the relay waits again, only the next commit can reach it: a lost wake-up would
        // leave the event unpublished until the idle check, ten minutes away.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await post(`idle-${n}`);
        await caughtUp(`idle-${n}`);
      }
      // (Each is either woken or found by the relay's last look before it waits.)
      assert.ok(metrics.relayWakeups.value() >= 1, `${metrics.relayWakeups.value()} wake-ups`);
    } finally {
      await relay.stop();
    }
  });
});

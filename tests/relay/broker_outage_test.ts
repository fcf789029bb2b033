import assert from "node:assert/strict";
import { createLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { startRelayThread } from "../../lib/relay/relay_thread.ts";
import { signBody } from "../../lib/webhook/signature.ts";
import { eventBody, testApp } from "../support/app.ts";
import { consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { startTestBroker } from "../support/kafka.ts";
import { serviceDataDir, startServiceProcess } from "../support/service_process.ts";

const SECRET = "outage-secret";

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

Deno.test("the broker stopped and restarted under load: every acknowledged event reaches Kafka", async () => {
  await using broker = await startTestBroker();
  const topic = `upbus-outage-${crypto.randomUUID()}`;
  const dataDir = await serviceDataDir();
  const service = await startServiceProcess({
    UP_WEBHOOK_SECRETS: SECRET,
    KAFKA_BROKERS: broker.bootstrap,
    KAFKA_TOPIC: topic,
    DATA_DIR: dataDir,
  });
  const acked: string[] = [];
  const refused: string[] = [];
  let next = 0;
  let loading = true;
  const load = Promise.all(Array.from({ length: 6 }, async () => {
    while (loading) {
      const id = `outage-${next++}`;
      const body = eventBody({ id, type: "TRANSACTION_CREATED", transactionId: `tx-${next % 17}` });
      const response = await fetch(`${service.url}/webhook`, {
        method: "POST",
        headers: { "X-Up-Authenticity-Signature": await signBody(body, SECRET) },
        body,
      });
      await response.body?.cancel();
      (response.status === 200 ? acked : refused).push(id);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }));
  try {
    await until("100 events before the outage", () => Promise.resolve(acked.length >= 100));
    await until(
      "the first events in Kafka",
      async () => await metric(service.url, "upbus_events_published_total") > 0,
    );
    await broker.stop();
    const atOutage = acked.length;
    await until(
      "the relay to notice the outage",
      async () => (await fetch(`${service.url}/readyz`)).status === 503,
    );
    // Under load, each commit used to cut the relay's pause short, so its backoff reached 30 s
    // within seconds and a returning broker waited that long. Minutes of load, not seconds,
    // are what users see; the backoff's cap is what matters.
    const readyz: string[] = [];
    for (const end = Date.now() + 3000; Date.now() < end; await sleep(100)) {
      readyz.push((await (await fetch(`${service.url}/readyz`)).json()).checks.kafka);
    }
    await until(
      "200 more events during the outage",
      () => Promise.resolve(acked.length >= atOutage + 200),
    );
    assert.ok(await metric(service.url, "upbus_relay_backlog") > 0, "events wait in the store");
    assert.deepEqual(
      new Set(readyz.map((check) => check.replace(/: .*$/, ""))).size,
      1,
      `/readyz kept one state with one since-time through the outage: ${[...new Set(readyz)]}`,
    );
    assert.match(readyz[0], /^unreachable since \d{4}-\d\d-\d\dT/);
    await sleep(6000); // longer than the longest backoff, with commits arriving all along
    const publishedBefore = await metric(service.url, "upbus_events_published_total");
    await broker.start();
    const back = performance.now();
    await until(
      "the backlog to start draining",
      async () => await metric(service.url, "upbus_events_published_total") > publishedBefore,
      30_000,
    );
    const drainStartMs = Math.round(performance.now() - back);
    console.log(`backlog started draining ${drainStartMs} ms after the broker was back`);
    assert.ok(drainStartMs < 15_000, `draining began ${drainStartMs} ms after the broker's return`);
    const atRestart = acked.length;
    await until(
      "100 more events after the restart",
      () => Promise.resolve(acked.length >= atRestart + 100),
    );
    loading = false;
    await load;
    await until(
      "the backlog to drain",
      async () => await metric(service.url, "upbus_relay_backlog") === 0,
    );
    assert.deepEqual(refused, [], "every request got 200, outage or not");

    const records = await consumeWithKcat(broker.bootstrap, topic);
    const inKafka = new Set(records.map((record) => kcatHeaders(record).ce_id));
    const missing = acked.filter((id) => !inKafka.has(id));
    assert.deepEqual(
      missing,
      [],
      `${missing.length} of ${acked.length} acknowledged events missing`,
    );
    assert.equal(inKafka.size, acked.length);
    assert.ok(await metric(service.url, "upbus_publish_errors_total") > 0);
  } finally {
    loading = false;
    await load.catch(() => {});
    assert.equal(await service.stop(), 0);
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("an idle relay notices a broker outage, and the broker's return", async () => {
  await using broker = await startTestBroker();
  await using t = await testApp();
  const relay = startRelayThread(t.store, {
    brokers: [broker.bootstrap],
    clientId: "upbus-test",
    topic: `upbus-idle-${crypto.randomUUID()}`,
    idleCheckMs: 500,
    maxBackoffMs: 2000,
    logLevel: "error",
    logger: createLogger({ write: () => {} }),
    metrics: createMetrics(),
  });
  try {
    await until("the relay to connect", () => Promise.resolve(relay.status().connected), 60_000);
    await broker.stop();
    await until(
      "the idle relay to notice",
      () => Promise.resolve(!relay.status().connected),
      20_000,
    );
    await broker.start();
    await until("the relay to reconnect", () => Promise.resolve(relay.status().connected), 60_000);
  } finally {
    await relay.stop();
  }
});

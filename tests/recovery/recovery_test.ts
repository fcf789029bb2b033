/**
 * Recovery end to end, with the real commands as child processes, each under its `deno task`
 * permission set: `up-sim` gives up on every delivery while `serve` is stopped (30 purchases, 10
 * of them settled, one settlement of an earlier purchase, a transfer), `serve` starts again and
 * its first recovery pass puts every missed event in the store once (embedded mode and Kafka);
 * `enrich` runs throughout, and the transactions' latest states add up to the simulator's
 * balances. With the logs purged the transactions arrive through reconciliation instead. With
 * Up's API failing, live webhooks are still taken and a later pass recovers everything once.
 * `recover --dry-run` prints the plan and changes nothing.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createUpClient, type UpClient } from "../../lib/up/client.ts";
import { writeWebhookState } from "../../lib/up/webhook_state.ts";
import { createSimulatorControl, type SimulatorControl } from "../../lib/up_sim/control.ts";
import type { TransactionResource } from "../../lib/up/types.ts";
import { consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { waitFor } from "../support/pipeline.ts";
import { serviceDataDir } from "../support/service_process.ts";
import {
  type RunningUpbus,
  runUpbus,
  startUpbus,
  type UpbusProgram,
} from "../support/upbus_program.ts";

const TOKEN = "up:sim:recovery-test";

/** A command as `deno task <name>` runs it: its own permission set. */
function task(permissionSet: string): UpbusProgram {
  return { command: "deno", prefix: ["run", "-q", `-P=${permissionSet}`, "main.ts"] };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterator) items.push(item);
  return items;
}

interface Stage {
  dataDir: string;
  env: Record<string, string>;
  up: UpClient;
  control: SimulatorControl;
  webhookId: string;
  kafka?: { brokers: string; events: string; transactions: string };
  sim: RunningUpbus;
  enrich?: RunningUpbus;
  serve?: RunningUpbus;
  /** Events the service took live, before it stopped. */
  live: number;
  /** Transactions the simulator made. */
  transactions: Set<string>;
  /** Each account's balance before them, in cents. */
  opening: Map<string, number>;
}

async function startSim(): Promise<[RunningUpbus, string]> {
  return await startUpbus(task("up-sim"), [
    "up-sim",
    "--port",
    "0",
    "--token",
    TOKEN,
    "--seed",
    "0",
    "--retry-schedule",
    "50ms,50ms,5m",
    "--give-up",
    "1s",
    "--in-memory",
  ], {
    ready: (line) => line.match(/^Up simulator listening on (\S+)$/)?.[1],
  });
}

async function startServe(stage: Stage, extra: Record<string, string> = {}) {
  const [serve] = await startUpbus(task("serve"), ["serve"], {
    env: { ...stage.env, ...extra },
    ready: (_line, log) => log?.msg === "listening" ? true : undefined,
  });
  stage.serve = serve;
  return serve;
}

async function startEnrich(stage: Stage) {
  const [enrich] = await startUpbus(task("enrich"), ["enrich"], {
    env: stage.env,
    ready: (_line, log) => typeof log?.msg === "string" ? true : undefined,
  });
  stage.enrich = enrich;
}

/** The simulator, a webhook to a fixed port, the service and the enricher, 3 live purchases. */
async function setUp(mode: "embedded" | "kafka"): Promise<Stage> {
  const [sim, baseUrl] = await startSim();
  const dataDir = await serviceDataDir();
  const partial: Partial<Stage> = { sim, dataDir };
  try {
    return await setUpWith(mode, baseUrl, partial);
  } catch (error) {
    await tearDown(partial as Stage);
    throw error;
  }
}

async function setUpWith(
  mode: "embedded" | "kafka",
  baseUrl: string,
  partial: Partial<Stage>,
): Promise<Stage> {
  const { sim, dataDir } = partial as Stage;
  const port = freePort();
  const up = createUpClient({ token: TOKEN, baseUrl });
  const control = createSimulatorControl({ baseUrl, token: TOKEN });
  const webhook = await up.webhooks.create({ url: `http://127.0.0.1:${port}/webhook` });
  await writeWebhookState(dataDir, {
    version: 1,
    webhooks: [{
      id: webhook.id,
      url: webhook.attributes.url,
      description: null,
      secretKey: webhook.attributes.secretKey!,
      createdAt: webhook.attributes.createdAt,
    }],
  });
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    PORT: String(port),
    DATA_DIR: dataDir,
    UP_API_BASE: baseUrl,
    UP_API_TOKEN: TOKEN,
    LOG_FORMAT: "json",
    RECOVERY_INTERVAL_SECONDS: "3600",
    RECONCILE_GRACE_SECONDS: "0",
  };
  let kafka: Stage["kafka"];
  if (mode === "kafka") {
    const name = `recovery-${crypto.randomUUID().slice(0, 8)}`;
    kafka = {
      brokers: await testBrokers(),
      events: `${name}.events`,
      transactions: `${name}.transactions`,
    };
    Object.assign(env, {
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_TOPIC: kafka.events,
      TRANSACTIONS_TOPIC: kafka.transactions,
      KAFKA_TOPIC_PARTITIONS: "1",
    });
  }
  const stage = Object.assign(partial, {
    dataDir,
    env,
    up,
    control,
    webhookId: webhook.id,
    ...(kafka ? { kafka } : {}),
    sim,
    live: 0,
    transactions: new Set(),
    opening: new Map(
      (await collect(up.listAccounts())).map((account) => [
        account.id,
        account.attributes.balance.valueInBaseUnits,
      ]),
    ),
  }) as Stage;
  await startServe(stage);
  await startEnrich(stage);
  for (let i = 0; i < 3; i++) {
    const made = await control.createTransaction({
      amount: `-${4 + i}.50`,
      description: `Live ${i}`,
    });
    stage.transactions.add(made.id);
  }
  stage.live = 3;
  await waitFor(() => storeEvents(stage).length === 3, "3 live events in the store");
  await waitFor(
    async () => (await transactionRecords(stage)).length === 3,
    "3 live transactions enriched",
  );
  return stage;
}

/** While the service is stopped: 30 purchases (10 settled), a live one settled, a transfer. */
async function missWhileAway(stage: Stage): Promise<number> {
  await stage.serve!.stop();
  stage.serve = undefined;
  const purchases: string[] = [];
  for (let i = 0; i < 30; i++) {
    const made = await stage.control.createTransaction({
      amount: `-${10 + i}.25`,
      description: `Away ${i}`,
    });
    purchases.push(made.id);
    stage.transactions.add(made.id);
  }
  for (const id of purchases.slice(0, 10)) await stage.control.settleTransaction(id);
  const [firstLive] = stage.transactions;
  await stage.control.settleTransaction(firstLive);
  const transfer = await stage.control.transfer({ amount: "100.00" });
  for (const leg of transfer.transactions) stage.transactions.add(leg.id);
  const missed = 30 + 10 + 1 + 2;
  // Up tries 3 times (now, +50 ms, +100 ms) and gives up: the 5 minute retry is past --give-up.
  await waitFor(async () => {
    const logs = await collect(stage.up.webhooks.logs(stage.webhookId, { pageSize: 100 }));
    return logs.filter((log) => log.attributes.deliveryStatus === "UNDELIVERABLE").length ===
      missed * 3;
  }, "the simulator gave up on every delivery");
  // upbus stays away a little longer than Up kept trying (Up's times are whole seconds).
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return missed;
}

interface StoreRow {
  event_id: string;
  type: string;
  transaction_id: string | null;
  origin: string | null;
}

function storeEvents(stage: Stage): StoreRow[] {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(`${stage.dataDir}/events.db`, { readOnly: true });
  } catch {
    return [];
  }
  try {
    const columns = db.prepare("PRAGMA table_info(events)").all() as { name: string }[];
    const origin = columns.some((column) => column.name === "origin") ? "origin" : "NULL";
    return db.prepare(
      `SELECT event_id, type, transaction_id, ${origin} AS origin FROM events ORDER BY seq`,
    )
      .all() as unknown as StoreRow[];
  } finally {
    db.close();
  }
}

interface TxRecord {
  key: string;
  value: TransactionResource | null;
  headers: Record<string, string>;
}

async function transactionRecords(stage: Stage): Promise<TxRecord[]> {
  if (stage.kafka) {
    const records = await consumeWithKcat(stage.kafka.brokers, stage.kafka.transactions)
      .catch(() => []);
    return records.map((record) => ({
      key: record.key!,
      value: record.payload === null ? null : JSON.parse(record.payload),
      headers: kcatHeaders(record),
    }));
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(`${stage.dataDir}/pipeline.db`, { readOnly: true });
  } catch {
    return [];
  }
  try {
    const topic = stage.env.TRANSACTIONS_TOPIC ?? "up.transactions";
    const rows = db.prepare(
      "SELECT key, value, headers FROM records WHERE topic = ? ORDER BY record_offset",
    ).all(topic) as { key: string; value: Uint8Array | null; headers: string }[];
    return rows.map((row) => ({
      key: row.key,
      value: row.value === null ? null : JSON.parse(new TextDecoder().decode(row.value)),
      headers: JSON.parse(row.headers),
    }));
  } catch {
    return [];
  } finally {
    db.close();
  }
}

/** The latest state of each transaction, as a compacted topic (and the position consumer) sees. */
function latest(records: TxRecord[]): Map<string, TransactionResource> {
  const states = new Map<string, TransactionResource>();
  for (const record of records) {
    if (record.value === null) states.delete(record.key);
    else states.set(record.key, record.value);
  }
  return states;
}

/** Waits until every transaction is on the topic in Up's present state; checks balances. */
async function assertTransactionsMatchUp(stage: Stage): Promise<TxRecord[]> {
  const now = new Map<string, TransactionResource>();
  for (const id of stage.transactions) now.set(id, await stage.up.getTransaction(id));
  let records: TxRecord[] = [];
  await waitFor(
    async () => {
      records = await transactionRecords(stage);
      const states = latest(records);
      return [...now].every(([id, resource]) =>
        states.get(id)?.attributes.status === resource.attributes.status
      );
    },
    "every transaction on the topic in its present state",
    60_000,
  );
  // Nothing already delivered is repeated: the live purchases that did not change while
  // upbus was away have their one record still, and no reconciled state comes twice. (The
  // enricher publishes the present state for each CREATED and SETTLED event, so a purchase
  // that settled while upbus was away may show its settled state twice, as it would live.)
  const [, ...unchanged] = [...stage.transactions].slice(0, stage.live);
  for (const id of unchanged) {
    assert.equal(records.filter((record) => record.key === id).length, 1, `live ${id} once`);
  }
  const reconciled = records.filter((record) => record.headers.upbus_origin === "reconciled")
    .map((record) => `${record.key} ${record.value?.attributes.status}`);
  assert.equal(new Set(reconciled).size, reconciled.length, "a reconciled state twice");
  // Balances: the opening balance plus what a consumer adds up from the topic equals Up's.
  const sums = new Map<string, number>();
  for (const transaction of latest(records).values()) {
    const account = transaction.relationships.account.data.id;
    sums.set(
      account,
      (sums.get(account) ?? stage.opening.get(account)!) +
        transaction.attributes.amount.valueInBaseUnits,
    );
  }
  for (const account of await collect(stage.up.listAccounts())) {
    assert.equal(
      sums.get(account.id) ?? stage.opening.get(account.id),
      account.attributes.balance.valueInBaseUnits,
      `balance of ${account.attributes.displayName}`,
    );
  }
  return records;
}

async function tearDown(stage: Stage) {
  await stage.serve?.stop();
  await stage.enrich?.stop();
  await stage.sim.stop();
  await Deno.remove(stage.dataDir, { recursive: true }).catch(() => {});
}

function passLog(serve: RunningUpbus) {
  return serve.logs.find((log) => log.msg === "recovery pass complete");
}

for (const mode of ["embedded", "kafka"] as const) {
  Deno.test(`${mode}: one recovery pass after a restart puts every event Up gave up on on the bus once`, async () => {
    const stage = await setUp(mode);
    try {
      const missed = await missWhileAway(stage);
      const started = performance.now();
      const serve = await startServe(stage);
      await waitFor(() => passLog(serve) !== undefined, "a complete recovery pass", 60_000);
      const seconds = (performance.now() - started) / 1000;
      const pass = passLog(serve)!;
      console.log(
        `${mode}: start to a complete pass after ${missed} missed events: ${
          seconds.toFixed(2)
        } s, ${pass.requests} requests to Up (${pass.recovered} recovered, ${pass.reconciled} reconciled)`,
      );
      assert.equal(pass.recovered, missed);
      assert.equal(pass.reconciled, 0, "the logs accounted for every transaction");

      const rows = storeEvents(stage);
      assert.equal(rows.length, stage.live + missed);
      assert.equal(new Set(rows.map((row) => row.event_id)).size, rows.length);
      assert.equal(rows.filter((row) => row.origin === "recovered").length, missed);
      assert.ok(rows.slice(0, stage.live).every((row) => row.origin === null));
      // In the order Up created them, as far as its whole-second times tell: the purchases and
      // the transfer's legs by second, and each settlement after its purchase's creation.
      const recovered = rows.filter((row) => row.origin === "recovered");
      const created = recovered.filter((row) => row.type === "TRANSACTION_CREATED")
        .map((row) => row.transaction_id!);
      assert.deepEqual([...created].sort(), [...stage.transactions].slice(stage.live).sort());
      const createdAt = await Promise.all(
        created.map(async (id) =>
          Date.parse((await stage.up.getTransaction(id)).attributes.createdAt)
        ),
      );
      assert.deepEqual(createdAt, [...createdAt].sort((a, b) => a - b), "by Up's createdAt");
      for (const [index, row] of recovered.entries()) {
        if (row.type !== "TRANSACTION_SETTLED") continue;
        const creation = recovered.findIndex((other) =>
          other.transaction_id === row.transaction_id && other.type === "TRANSACTION_CREATED"
        );
        assert.ok(creation < index, `settled ${row.transaction_id} after its creation`);
      }
      const recoveredLines = serve.logs.filter((log) =>
        log.msg === "recovered webhook event from Up's delivery logs"
      );
      assert.equal(recoveredLines.length, missed, "one log line per recovered event");

      if (stage.kafka) {
        let records: Awaited<ReturnType<typeof consumeWithKcat>> = [];
        await waitFor(async () => {
          records = await consumeWithKcat(stage.kafka!.brokers, stage.kafka!.events);
          return records.length >= stage.live + missed;
        }, "every event in Kafka");
        const ids = records.map((record) => kcatHeaders(record).ce_id);
        assert.equal(new Set(ids).size, ids.length, "each event once in Kafka");
        assert.equal(ids.length, stage.live + missed);
        const recovered = records.filter((r) => kcatHeaders(r).ce_upbusorigin === "recovered");
        assert.equal(recovered.length, missed);
        assert.ok(recovered.every((r) => kcatHeaders(r).up_signature === undefined));
      }
      await assertTransactionsMatchUp(stage);

      // A quiet pass: nothing new, a handful of requests.
      const metrics = await fetch(`http://127.0.0.1:${stage.env.PORT}/metrics`).then((r) =>
        r.text()
      );
      assert.match(metrics, new RegExp(`upbus_recovered_events_total ${missed}\\b`));
      assert.match(metrics, /upbus_recovery_last_complete_pass_seconds [1-9]/);
    } finally {
      await tearDown(stage);
    }
  });
}

for (const mode of ["embedded", "kafka"] as const) {
  Deno.test(`${mode}: with the logs purged, the transactions arrive through reconciliation once`, async () => {
    const stage = await setUp(mode);
    try {
      const missed = await missWhileAway(stage);
      assert.equal(
        await stage.control.purgeLogs({ webhookId: stage.webhookId }),
        missed * 3 + stage.live,
      );
      const serve = await startServe(stage);
      await waitFor(() => passLog(serve) !== undefined, "a complete recovery pass", 60_000);
      const pass = passLog(serve)!;
      assert.equal(pass.recovered, 0);
      // 30 purchases, 2 transfer legs, and the live purchase that settled while away.
      // Every transaction made while upbus was away, and the live one that settled meanwhile.
      const lines = serve.logs.filter((log) => String(log.msg).startsWith("reconciled"));
      const reconciledIds = new Set(lines.map((log) => log.transactionId));
      const [firstLive, , , ...away] = stage.transactions;
      assert.deepEqual([firstLive, ...away].filter((id) => !reconciledIds.has(id)), []);
      assert.equal(pass.reconciled, 33);
      const records = await assertTransactionsMatchUp(stage);
      assert.equal(records.filter((r) => r.headers.upbus_origin === "reconciled").length, 33);
      const metrics = await fetch(`http://127.0.0.1:${stage.env.PORT}/metrics`).then((r) =>
        r.text()
      );
      assert.match(metrics, /upbus_reconciled_transactions_total 33\b/);
      assert.match(metrics, /upbus_recovery_missing_events 33\b/);
      // A second pass publishes nothing again.
      await stage.serve!.stop();
      const again = await startServe(stage);
      await waitFor(() => passLog(again) !== undefined, "a second pass", 60_000);
      assert.equal(passLog(again)!.reconciled, 0);
      console.log(`a quiet pass: ${passLog(again)!.requests} requests to Up`);
      assert.ok(Number(passLog(again)!.requests) <= 5, "a quiet pass costs a handful of requests");
    } finally {
      await tearDown(stage);
    }
  });
}

Deno.test("embedded: while Up's API fails, live webhooks are taken and a later pass recovers everything once", async () => {
  const stage = await setUp("embedded");
  try {
    const missed = await missWhileAway(stage);
    await stage.enrich!.stop(); // its requests would take the injected faults
    stage.enrich = undefined;
    await stage.control.injectFaults({ status: 503, count: 3 });
    await stage.control.injectFaults({ status: 429, count: 3, rateLimitRemaining: 5 });
    const serve = await startServe(stage, { RECOVERY_INTERVAL_SECONDS: "1" });
    const live = await stage.control.createTransaction({ amount: "-3.00", description: "Live" });
    stage.transactions.add(live.id);
    await waitFor(
      () => serve.logs.some((log) => log.msg === "webhook event accepted"),
      "a live webhook taken while recovery fails",
    );
    await waitFor(
      () => serve.logs.some((log) => String(log.msg).startsWith("recovery pass failed")),
      "a failed pass",
    );
    const ready = await fetch(`http://127.0.0.1:${stage.env.PORT}/readyz`);
    assert.equal(ready.status, 200, `ready while recovery fails: ${await ready.text()}`);
    await waitFor(() => passLog(serve) !== undefined, "a complete pass after the faults", 60_000);
    assert.ok(!serve.err.some((line) => line.includes("    at ")), "no stack trace");
    const rows = storeEvents(stage);
    assert.equal(rows.length, stage.live + missed + 1);
    assert.equal(new Set(rows.map((row) => row.event_id)).size, rows.length);
    assert.equal(rows.filter((row) => row.origin === "recovered").length, missed);
  } finally {
    await tearDown(stage);
  }
});

Deno.test("recover --dry-run prints the plan per webhook and per account and changes nothing", async () => {
  const stage = await setUp("embedded");
  try {
    const missed = await missWhileAway(stage);
    const env = { ...stage.env, RECONCILE_GRACE_SECONDS: "0" };
    const stateBefore = await Deno.readTextFile(`${stage.dataDir}/recovery.json`);
    const dry = await runUpbus(task("recover"), ["recover", "--dry-run"], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      new RegExp(
        `webhook ${stage.webhookId}: ${missed * 3 + stage.live} log entries, ${
          missed + stage.live
        } events, ${missed} missing \\(last attempt ${missed} UNDELIVERABLE\\)`,
      ),
    );
    assert.match(dry.stdout, /account \S+: \d+ transactions, 0 with no event/);
    assert.match(dry.stdout, new RegExp(`Total: ${missed} events to recover, 0 transactions`));
    assert.equal(storeEvents(stage).length, stage.live, "a dry run changes nothing");
    assert.equal(await Deno.readTextFile(`${stage.dataDir}/recovery.json`), stateBefore);

    const bad = await runUpbus(task("recover"), ["recover", "--since", "yesterday"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since is "yesterday", expected a date such as/);

    const real = await runUpbus(task("recover"), ["recover"], { env });
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, new RegExp(`Recovered ${missed} events`));
    assert.equal(storeEvents(stage).length, stage.live + missed);
    await assertTransactionsMatchUp(stage);
  } finally {
    await tearDown(stage);
  }
});

Deno.test("register-webhook --replace reads the old webhook's logs first: deliveries Up kept failing to the old tunnel URL arrive", async () => {
  const [sim, baseUrl] = await startSim();
  const dataDir = await serviceDataDir();
  const port = freePort();
  const env = {
    HOST: "127.0.0.1",
    PORT: String(port),
    DATA_DIR: dataDir,
    UP_API_BASE: baseUrl,
    UP_API_TOKEN: TOKEN,
    LOG_FORMAT: "json",
    // The service's own passes off: what arrives here is register-webhook's doing.
    RECOVERY_INTERVAL_SECONDS: "0",
  };
  const [serve] = await startUpbus(task("serve"), ["serve"], {
    env,
    ready: (_line, log) => log?.msg === "listening" ? true : undefined,
  });
  try {
    const up = createUpClient({ token: TOKEN, baseUrl });
    const control = createSimulatorControl({ baseUrl, token: TOKEN });
    // The tunnel's old URL, which nothing answers any more.
    const old = await up.webhooks.create({ url: `http://127.0.0.1:${freePort()}/webhook` });
    await writeWebhookState(dataDir, {
      version: 1,
      webhooks: [{
        id: old.id,
        url: old.attributes.url,
        description: null,
        secretKey: old.attributes.secretKey!,
        createdAt: old.attributes.createdAt,
      }],
    });
    const ids = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await control.createTransaction({ amount: "-2.00", description: `Old ${i}` })).id);
    }
    await waitFor(async () => {
      const logs = await collect(up.webhooks.logs(old.id));
      return logs.length === 15;
    }, "Up gave up on the old URL");
    const result = await runUpbus(task("register-webhook"), [
      "register-webhook",
      "--url",
      `http://127.0.0.1:${port}/webhook`,
      "--replace",
    ], { env: { UP_API_BASE: baseUrl, UP_API_TOKEN: TOKEN, DATA_DIR: dataDir } });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `Read the delivery logs of webhook ${old.id} before deleting it: 15 entries, 5 events upbus lacked`,
      ),
    );
    assert.match(result.stdout, new RegExp(`Deleted old webhook ${old.id}`));
    const rows = storeEvents({ dataDir } as Stage);
    const recovered = rows.filter((row) => row.origin === "recovered");
    assert.equal(recovered.length, 5);
    assert.ok(recovered.every((row) => row.type === "TRANSACTION_CREATED"));
    assert.ok(rows.some((row) => row.type === "PING" && row.origin === null), "the new URL works");
  } finally {
    await serve.stop();
    await sim.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a second webhook's copies of events already delivered through the first are not recovered again", async () => {
  const [sim, baseUrl] = await startSim();
  const dataDir = await serviceDataDir();
  const port = freePort();
  const env = {
    HOST: "127.0.0.1",
    PORT: String(port),
    DATA_DIR: dataDir,
    UP_API_BASE: baseUrl,
    UP_API_TOKEN: TOKEN,
    LOG_FORMAT: "json",
    RECOVERY_INTERVAL_SECONDS: "0",
    RECONCILE_GRACE_SECONDS: "0",
  };
  const [serve] = await startUpbus(task("serve"), ["serve"], {
    env,
    ready: (_line, log) => log?.msg === "listening" ? true : undefined,
  });
  try {
    const up = createUpClient({ token: TOKEN, baseUrl });
    const control = createSimulatorControl({ baseUrl, token: TOKEN });
    // An old webhook nothing answers, and the one that works: Up sends each its own copy.
    const old = await up.webhooks.create({ url: `http://127.0.0.1:${freePort()}/webhook` });
    const live = await up.webhooks.create({ url: `http://127.0.0.1:${port}/webhook` });
    await writeWebhookState(dataDir, {
      version: 1,
      webhooks: [old, live].map((webhook) => ({
        id: webhook.id,
        url: webhook.attributes.url,
        description: null,
        secretKey: webhook.attributes.secretKey!,
        createdAt: webhook.attributes.createdAt,
      })),
    });
    for (let i = 0; i < 5; i++) {
      await control.createTransaction({ amount: "-2.00", description: `Both ${i}` });
    }
    await waitFor(
      async () => (await collect(up.webhooks.logs(old.id))).length === 15,
      "Up gave up on the old webhook",
    );
    await waitFor(() => storeEvents({ dataDir } as Stage).length === 5, "5 live events");
    const result = await runUpbus(task("recover"), ["recover"], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`webhook ${old.id}: 15 log entries, 5 events, 0 missing`),
    );
    assert.match(result.stdout, /Recovered 0 events/);
    assert.equal(storeEvents({ dataDir } as Stage).length, 5, "no copy of the same happening");
  } finally {
    await serve.stop();
    await sim.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

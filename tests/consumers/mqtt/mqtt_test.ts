/**
 * `deno task consume mqtt` against a real Eclipse Mosquitto, as Home Assistant sees it, in both
 * modes (the local log and Kafka): every retained device discovery message checked against Home
 * Assistant's device-discovery schema (tests/support/ha_discovery.ts), the live state after
 * purchases, a settlement and a deletion, the re-discovery on Home Assistant's birth message with
 * events held back after it, a broker restart in the middle with nothing lost or doubled, a clean
 * stop and a kill -9 (the last will) on the availability topic, a restart that sends nothing
 * twice and removes the device of an account that is gone; and the simulator's month of history
 * giving the dashboard's balances and month-to-date spend.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import mqtt from "../../../lib/consumers/mqtt/mqtt_js.ts";
import { Partitioners } from "kafkajs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { openLocalLog } from "../../../lib/bus/local/local_log.ts";
import {
  ensureTransactionsTopic,
  tombstoneRecord,
  type TransactionRecord,
  transactionRecord,
} from "../../../lib/bus/transaction_record.ts";
import type { SimTransaction } from "../../../lib/up_sim/bank.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";
import { type ServedUpSimulator, serveUpSimulator } from "../../../lib/up_sim/server.ts";
import { checkDeviceDiscovery, renderValueTemplate } from "../../support/ha_discovery.ts";
import { testBrokers } from "../../support/kafka.ts";
import { startMosquitto } from "../../support/mosquitto.ts";
import { makeTestCertificates } from "../../support/secure_broker.ts";
import { quietKafka, waitFor } from "../../support/pipeline.ts";
import { serviceDataDir } from "../../support/service_process.ts";
import { type RunningUpbus, runUpbus, startUpbus } from "../../support/upbus_program.ts";

/** Checks a payload against its definition in docs/mqtt-payloads.schema.json. */
const payloadSchema = (() => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  const url = new URL("../../../docs/mqtt-payloads.schema.json", import.meta.url);
  ajv.addSchema(JSON.parse(Deno.readTextFileSync(url)), "mqtt");
  return (definition: string, payload: string) => {
    const validate = ajv.getSchema(`mqtt#/$defs/${definition}`)!;
    const value = definition === "status" ? payload : JSON.parse(payload);
    assert.ok(validate(value), `${definition} ${payload}: ${ajv.errorsText(validate.errors)}`);
  };
})();

const CONSUME = { command: "deno", prefix: ["run", "-P=consume", "--no-prompt", "main.ts"] };
const SYDNEY_DAY = new Intl.DateTimeFormat("en-CA", {
  timeZone: "Australia/Sydney",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
});

/** One message as the observer (Home Assistant's place) received it. */
interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
}

/** An MQTT client in Home Assistant's place: a persistent session, QoS 1, all topics. */
async function observe(url: string) {
  const seen: Seen[] = [];
  const client = await mqtt.connectAsync(url, {
    clientId: `ha-${crypto.randomUUID().slice(0, 8)}`,
    clean: false,
    reconnectPeriod: 200,
  });
  client.on("message", (topic, payload, packet) => {
    seen.push({ topic, payload: payload.toString(), retain: packet.retain, at: performance.now() });
  });
  await client.subscribeAsync(["homeassistant/#", "upbus/#"], { qos: 1 });
  return {
    seen,
    client,
    latest(topic: string): string | undefined {
      return seen.findLast((message) => message.topic === topic)?.payload;
    },
    events(): Array<Record<string, unknown> & { at: number }> {
      return seen.filter((message) => /^upbus\/account\/[^/]+\/event$/.test(message.topic))
        .map((message) => ({ ...JSON.parse(message.payload), at: message.at }));
    },
    discoveries(): Seen[] {
      return seen.filter((message) => /^homeassistant\/device\/[^/]+\/config$/.test(message.topic));
    },
  };
}

/** What a fresh subscriber gets at once: the retained messages, by topic. */
async function retained(url: string): Promise<Map<string, string>> {
  const client = await mqtt.connectAsync(url, {
    clientId: `snap-${crypto.randomUUID().slice(0, 8)}`,
  });
  const found = new Map<string, string>();
  client.on("message", (topic, payload, packet) => {
    if (packet.retain) found.set(topic, payload.toString());
  });
  await client.subscribeAsync("#", { qos: 1 });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await client.endAsync();
  return found;
}

/** Where the records of `up.transactions` go: the local log or a Kafka topic. */
interface Feed {
  env: Record<string, string>;
  append(records: TransactionRecord[]): Promise<void>;
  close(): Promise<void>;
}

async function feedFor(mode: "embedded" | "kafka", dataDir: string): Promise<Feed> {
  if (mode === "embedded") {
    const log = await openLocalLog(dataDir);
    return {
      env: {},
      append: (records) => Promise.resolve(void log.append("up.transactions", records)),
      close: () => Promise.resolve(log.close()),
    };
  }
  const brokers = await testBrokers();
  const kafka = quietKafka(brokers);
  const topic = `upbus-test-mqtt-${crypto.randomUUID()}`;
  // Retried: on a broker that has just started, kafkajs may report a new topic unknown.
  for (let attempt = 1;; attempt++) {
    try {
      await ensureTransactionsTopic(kafka, topic, { partitions: 2 });
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return {
    env: { KAFKA_BROKERS: brokers, TRANSACTIONS_TOPIC: topic },
    async append(records) {
      await producer.send({ topic, acks: -1, messages: records });
    },
    close: () => producer.disconnect(),
  };
}

function consumerEnv(
  sim: ServedUpSimulator,
  brokerUrl: string,
  dataDir: string,
  feed: Feed,
): Record<string, string> {
  return {
    MQTT_URL: brokerUrl,
    UP_API_BASE: sim.baseUrl,
    UP_API_TOKEN: sim.token,
    DATA_DIR: dataDir,
    LOG_FORMAT: "json",
    ...feed.env,
  };
}

/** Starts `consume mqtt`; ready once it announced the devices and listens for signals. */
function startMqttConsumer(env: Record<string, string>): Promise<[RunningUpbus, true]> {
  const seen = new Set<unknown>();
  return startUpbus(CONSUME, ["consume", "mqtt"], {
    env,
    ready: (_line, log) => {
      seen.add(log?.msg);
      return seen.has("devices announced to Home Assistant") && seen.has("consumer running")
        ? true
        : undefined;
    },
    timeoutMs: 90_000,
  });
}

/** Today's purchases of an account in Sydney, positive cents, from the bank itself. */
function spentToday(sim: ServedUpSimulator, accountId: string): number {
  const today = SYDNEY_DAY.format(Date.now());
  return sim.bank.transactions
    .filter((tx) =>
      tx.accountId === accountId && tx.amountCents < 0 && !tx.transferAccountId &&
      SYDNEY_DAY.format(tx.createdAt) === today
    )
    .reduce((sum, tx) => sum - tx.amountCents, 0);
}

for (const mode of ["embedded", "kafka"] as const) {
  Deno.test(`consume mqtt (${mode}): Home Assistant discovery, live state, events once across restarts`, async (t) => {
    const broker = await startMosquitto();
    const sim = serveUpSimulator({ port: 0, seedTransactions: 3 });
    // A 2Up account, so that its ownership shows.
    sim.bank.accounts.push({
      id: crypto.randomUUID(),
      displayName: "2Up Spending",
      accountType: "TRANSACTIONAL",
      ownershipType: "JOINT",
      openingBalanceCents: 40_000,
      createdAt: Date.now() - 86_400_000,
    });
    const spending = sim.bank.findAccount("Spending")!;
    const dataDir = await serviceDataDir();
    const feed = await feedFor(mode, dataDir);
    const record = (tx: SimTransaction) =>
      transactionRecord(transactionResource(tx, sim.baseUrl), "test");
    await feed.append(sim.bank.transactions.map(record));
    const ha = await observe(broker.url);
    const env = consumerEnv(sim, broker.url, dataDir, feed);
    let [consumer] = await startMqttConsumer(env);
    const spendingState = `upbus/account/${spending.id}/state`;
    const eventsOf = (id: string) => ha.events().filter((event) => event.transaction_id === id);
    try {
      const firstDiscovery = new Map<string, string>();
      await t.step(
        "one retained device per account, each valid by Home Assistant's schema",
        async () => {
          await waitFor(
            () => new Set(ha.discoveries().map((m) => m.topic)).size === 3,
            "3 devices",
          );
          for (const message of ha.discoveries()) {
            const check = checkDeviceDiscovery(message.topic, message.payload);
            assert.deepEqual(check.errors, [], `${message.topic}: ${check.errors.join("; ")}`);
            const account = sim.bank.accounts.find((a) => check.deviceId === `upbus_${a.id}`);
            assert.ok(account, `a device for an Up account: ${check.deviceId}`);
            assert.equal(check.device.name, account.displayName);
            assert.equal(/2Up/.test(String(check.device.model)), account.ownershipType === "JOINT");
            assert.deepEqual(check.components.map((c) => `${c.platform}:${c.id}`).sort(), [
              "event:transaction",
              "sensor:balance",
              "sensor:last_transaction",
              "sensor:spent_month",
              "sensor:spent_today",
            ]);
            assert.equal(check.components[0].config.availability_topic, "upbus/status");
            const balance = check.components.find((c) => c.id === "balance")!.config;
            assert.equal(balance.device_class, "monetary");
            assert.equal(balance.unit_of_measurement, "AUD");
            assert.equal(balance.suggested_display_precision, 2);
            assert.ok(!("state_class" in balance), "a balance has no state class");
            const events = check.components.find((c) => c.id === "transaction")!.config;
            assert.equal(events.qos, 1, "Home Assistant subscribes to events with QoS 1");
            firstDiscovery.set(message.topic, message.payload);
          }
          assert.equal(ha.latest("upbus/status"), "online");
        },
      );

      await t.step("the state: Up's balances, numbers for every monetary sensor", async () => {
        // Past the quiet second after discovery: the history replayed on a first start is state,
        // never events.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(ha.events().length, 0, "no event for the history");
        for (const account of sim.bank.accounts) {
          const topic = `upbus/account/${account.id}/state`;
          await waitFor(() => ha.latest(topic) !== undefined, `state of ${account.displayName}`);
          const check = checkDeviceDiscovery(
            `homeassistant/device/upbus_${account.id}/config`,
            firstDiscovery.get(`homeassistant/device/upbus_${account.id}/config`)!,
          );
          for (const component of check.components) {
            if (component.config.device_class !== "monetary") continue;
            const state = renderValueTemplate(
              String(component.config.value_template),
              ha.latest(topic)!,
            );
            assert.ok(Number.isFinite(Number(state)), `${component.id} is a number: ${state}`);
          }
          const state = JSON.parse(ha.latest(topic)!);
          assert.equal(state.balance, sim.bank.balanceOf(account.id) / 100);
        }
      });

      const cafe = sim.bank.addTransaction({
        amountCents: -1250,
        description: "Bean Cafe",
        categoryId: "restaurants-and-cafes",
      });
      const deposit = sim.bank.addTransaction({
        amountCents: -40_000,
        description: "Hotel deposit",
        categoryId: "technology",
      });
      await t.step(
        "purchases, a settlement and a deletion: events and the live state",
        async () => {
          await feed.append([record(cafe), record(deposit)]);
          await waitFor(
            () => eventsOf(cafe.id).length === 1 && eventsOf(deposit.id).length === 1,
            "two purchase events",
          );
          const purchase = eventsOf(cafe.id)[0];
          assert.equal(purchase.event_type, "purchase");
          assert.equal(purchase.amount, -12.5);
          assert.equal(purchase.currency, "AUD");
          assert.equal(purchase.status, "HELD");
          assert.equal(purchase.account, "Spending");
          assert.equal(purchase.category, "restaurants-and-cafes");
          await waitFor(
            () =>
              JSON.parse(ha.latest(spendingState)!).balance ===
                sim.bank.balanceOf(spending.id) / 100,
            "the balance less both purchases",
          );
          sim.bank.settle(cafe);
          await feed.append([record(cafe)]);
          sim.bank.remove(deposit);
          await feed.append([tombstoneRecord(deposit.id, "test")]);
          await waitFor(
            () => eventsOf(cafe.id).length === 2 && eventsOf(deposit.id).length === 2,
            "settled and deleted",
          );
          assert.deepEqual(eventsOf(cafe.id).map((e) => e.event_type), ["purchase", "settled"]);
          assert.deepEqual(eventsOf(deposit.id).map((e) => e.event_type), ["purchase", "deleted"]);
          assert.equal(
            eventsOf(deposit.id)[1].description,
            "Hotel deposit",
            "a deletion names what was deleted",
          );
          await waitFor(() => {
            const state = JSON.parse(ha.latest(spendingState)!);
            return state.balance === sim.bank.balanceOf(spending.id) / 100 && state.held === 0;
          }, "the balance with the deposit back and nothing held");
          const state = JSON.parse(ha.latest(spendingState)!);
          assert.equal(state.spent_today, spentToday(sim, spending.id) / 100);
          assert.ok(state.spent_today >= 12.5);
          const last = JSON.parse(ha.latest(`upbus/account/${spending.id}/last_transaction`)!);
          assert.equal(last.description, "Bean Cafe");
          assert.equal(last.status, "SETTLED");
          const types = new Set(
            checkDeviceDiscovery(
              `homeassistant/device/upbus_${spending.id}/config`,
              firstDiscovery.get(`homeassistant/device/upbus_${spending.id}/config`)!,
            ).components.find((c) => c.id === "transaction")!.config.event_types as string[],
          );
          for (const event of ha.events()) assert.ok(types.has(String(event.event_type)));
        },
      );

      await t.step(
        "Home Assistant's birth message brings the discovery again, events a second later",
        async () => {
          const before = ha.discoveries().length;
          await ha.client.publishAsync("homeassistant/status", "online", { qos: 1 });
          await waitFor(() => ha.discoveries().length >= before + 3, "the discovery again");
          const rediscovered = ha.discoveries().at(-1)!.at;
          const lunch = sim.bank.addTransaction({
            amountCents: -1890,
            description: "Lunch Bar",
            categoryId: "takeaway",
          });
          await feed.append([record(lunch)]);
          await waitFor(() => eventsOf(lunch.id).length === 1, "the lunch event");
          const delay = eventsOf(lunch.id)[0].at - rediscovered;
          assert.ok(delay >= 900, `the event came ${delay.toFixed(0)} ms after the discovery`);
        },
      );

      await t.step("a broker restart in the middle: nothing lost, nothing doubled", async () => {
        await broker.stop();
        assert.doesNotMatch(
          broker.log(),
          /Error/,
          "the broker saved its retained messages and sessions",
        );
        const first = sim.bank.addTransaction({
          amountCents: -700,
          description: "Corner Store",
          categoryId: "groceries",
        });
        const second = sim.bank.addTransaction({
          amountCents: -2100,
          description: "Servo",
          categoryId: "fuel",
        });
        await feed.append([record(first)]);
        await new Promise((resolve) => setTimeout(resolve, 500));
        await feed.append([record(second)]);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await broker.start();
        await waitFor(
          () => eventsOf(first.id).length >= 1 && eventsOf(second.id).length >= 1,
          "both events after the restart",
          60_000,
        );
        await waitFor(
          () =>
            JSON.parse(ha.latest(spendingState)!).balance === sim.bank.balanceOf(spending.id) / 100,
          "the balance after the restart",
        );
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(eventsOf(first.id).length, 1);
        assert.equal(eventsOf(second.id).length, 1);
        assert.ok(consumer.logs.some((log) => log.msg === "MQTT broker connection back"));
      });

      await t.step(
        "a clean stop says offline; a restart sends nothing twice and removes a gone account",
        async () => {
          const { code } = await consumer.stop("SIGTERM");
          assert.equal(code, 0, consumer.err.join("\n"));
          await waitFor(
            () => ha.latest("upbus/status") === "offline",
            "offline after a clean stop",
          );
          // An account announced before that Up no longer has.
          const state = new DatabaseSync(
            `${dataDir}/mqtt/state${mode === "embedded" ? ".local" : ""}.db`,
          );
          state.prepare("INSERT INTO devices (account_id, name) VALUES (?, ?)").run(
            "gone-account",
            "Old Saver",
          );
          state.close();
          const eventsBefore = ha.events().length;
          const discoveriesBefore = ha.discoveries().length;
          [consumer] = await startMqttConsumer(env);
          await waitFor(() => ha.latest("upbus/status") === "online", "online again");
          await waitFor(
            () => ha.latest("homeassistant/device/upbus_gone-account/config") === "",
            "the gone device removed",
          );
          await new Promise((resolve) => setTimeout(resolve, 2000));
          assert.equal(ha.events().length, eventsBefore, "no event sent again after the restart");
          for (const message of ha.discoveries().slice(discoveriesBefore)) {
            if (message.payload === "") continue;
            assert.equal(
              message.payload,
              firstDiscovery.get(message.topic),
              "the same ids after a restart",
            );
          }
          const dinner = sim.bank.addTransaction({
            amountCents: -5600,
            description: "Dinner",
            categoryId: "restaurants-and-cafes",
          });
          await feed.append([record(dinner)]);
          await waitFor(() => eventsOf(dinner.id).length === 1, "the dinner event");
          const ids = ha.events().map((event) => event.event_id);
          assert.equal(new Set(ids).size, ids.length, "every event once");
        },
      );

      await t.step(
        "kill -9 with an event queued while the broker is down: sent once when both are back",
        async () => {
          await broker.stop();
          const taxi = sim.bank.addTransaction({
            amountCents: -3300,
            description: "Taxi",
            categoryId: "public-transport",
          });
          await feed.append([record(taxi)]);
          const statePath = `${dataDir}/mqtt/state${mode === "embedded" ? ".local" : ""}.db`;
          await waitFor(() => {
            const state = new DatabaseSync(statePath, { readOnly: true });
            try {
              return state.prepare("SELECT 1 FROM events WHERE transaction_id = ?").get(taxi.id) !==
                undefined;
            } finally {
              state.close();
            }
          }, "the taxi event queued");
          await consumer.stop("SIGKILL");
          await broker.start();
          [consumer] = await startMqttConsumer(env);
          await waitFor(() => eventsOf(taxi.id).length === 1, "the taxi event after both restarts");
          await new Promise((resolve) => setTimeout(resolve, 1500));
          assert.equal(eventsOf(taxi.id).length, 1);
          const ids = ha.events().map((event) => event.event_id);
          assert.equal(new Set(ids).size, ids.length, "every event once");
        },
      );

      await t.step(
        "what a new subscriber finds: discovery and state retained, events never",
        async () => {
          const found = await retained(broker.url);
          for (const topic of firstDiscovery.keys()) {
            assert.ok(found.has(topic), `${topic} retained`);
          }
          // The payloads are what docs/mqtt-payloads.schema.json says they are.
          for (const [topic, payload] of found) {
            if (topic.endsWith("/state")) payloadSchema("state", payload);
            if (topic.endsWith("/last_transaction")) payloadSchema("last_transaction", payload);
            if (topic === "upbus/status") payloadSchema("status", payload);
          }
          const events = ha.seen.filter((message) => message.topic.endsWith("/event"));
          assert.ok(events.length >= 7);
          for (const message of events) payloadSchema("event", message.payload);
          assert.equal(found.get(spendingState), ha.latest(spendingState));
          assert.ok(
            ![...found.keys()].some((topic) => topic.endsWith("/event")),
            "no retained event",
          );
          assert.ok(
            !found.has("homeassistant/device/upbus_gone-account/config"),
            "the removal clears it",
          );
        },
      );

      await t.step("kill -9: the broker publishes the last will, offline", async () => {
        assert.equal(ha.latest("upbus/status"), "online");
        await consumer.stop("SIGKILL");
        await waitFor(
          () => ha.latest("upbus/status") === "offline",
          "the last will",
          10_000,
        );
        const found = await retained(broker.url);
        assert.equal(found.get("upbus/status"), "offline");
      });
    } finally {
      await consumer.stop("SIGKILL").catch(() => {});
      await ha.client.endAsync(true);
      await feed.close();
      await sim.shutdown();
      await broker.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

/** The per-account sums of a gauge of the dashboard's `/metrics`, in cents. */
function metricCents(text: string, name: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = line.match(new RegExp(`^${name}\\{account_id="([^"]+)"[^}]*\\} (\\S+)$`));
    if (!match) continue;
    sums.set(match[1], (sums.get(match[1]) ?? 0) + Math.round(Number(match[2]) * 100));
  }
  return sums;
}

for (const mode of ["embedded", "kafka"] as const) {
  Deno.test(`consume mqtt (${mode}): the simulator's month gives the dashboard's balances and spend`, async () => {
    const broker = await startMosquitto();
    const sim = serveUpSimulator({ port: 0, seedMonth: true });
    const dataDir = await serviceDataDir();
    const feed = await feedFor(mode, dataDir);
    await feed.append(
      sim.bank.transactions.map((tx) =>
        transactionRecord(transactionResource(tx, sim.baseUrl), "backfill")
      ),
    );
    const ha = await observe(broker.url);
    const env = consumerEnv(sim, broker.url, dataDir, feed);
    const [dashboard, url] = await startUpbus(CONSUME, ["consume", "position"], {
      env: { ...env, DASHBOARD_HOST: "127.0.0.1", DASHBOARD_PORT: "0" },
      ready: (_line, log) => log?.msg === "dashboard listening" ? String(log.url) : undefined,
      timeoutMs: 90_000,
    });
    let consumer: RunningUpbus | undefined;
    try {
      [consumer] = await startMqttConsumer(env);
      type Snapshot = { accounts: Array<{ accountId: string; balanceCents: number | null }> };
      let snapshot: Snapshot = { accounts: [] };
      await waitFor(async () => {
        snapshot = await (await fetch(`${url}position.json`)).json();
        return snapshot.accounts.length === 2 &&
          snapshot.accounts.every((account) => account.balanceCents !== null);
      }, "the dashboard's balances");
      const metrics = await (await fetch(`${url}metrics`)).text();
      const month = metricCents(metrics, "upbus_spend_month_aud");
      const today = metricCents(metrics, "upbus_spend_today_aud");
      for (const account of snapshot.accounts) {
        const topic = `upbus/account/${account.accountId}/state`;
        await waitFor(() => ha.latest(topic) !== undefined, `the state of ${account.accountId}`);
        const state = JSON.parse(ha.latest(topic)!);
        assert.equal(
          Math.round(state.balance * 100),
          account.balanceCents,
          "the dashboard's balance",
        );
        assert.equal(
          Math.round(state.balance * 100),
          sim.bank.balanceOf(account.accountId),
          "Up's balance",
        );
        assert.equal(
          Math.round(state.spent_month * 100),
          month.get(account.accountId) ?? 0,
          "month spend",
        );
        assert.equal(
          Math.round(state.spent_today * 100),
          today.get(account.accountId) ?? 0,
          "today's spend",
        );
      }
      const spending = sim.bank.findAccount("Spending")!;
      assert.ok((month.get(spending.id) ?? 0) > 0, "the month has spend to compare");
    } finally {
      await consumer?.stop("SIGTERM");
      await dashboard.stop("SIGTERM");
      await ha.client.endAsync(true);
      await feed.close();
      await sim.shutdown();
      await broker.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

Deno.test("consume mqtt: a wrong password stops it in one line naming the settings; MQTT_PASSWORD_FILE connects", async () => {
  const broker = await startMosquitto({ users: { upbus: "right-password-4711" } });
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  const dataDir = await serviceDataDir();
  try {
    const env: Record<string, string> = {
      MQTT_URL: broker.url,
      MQTT_USERNAME: "upbus",
      UP_API_BASE: sim.baseUrl,
      UP_API_TOKEN: sim.token,
      DATA_DIR: dataDir,
      LOG_FORMAT: "json",
    };
    const refused = await runUpbus(CONSUME, ["consume", "mqtt"], {
      env: { ...env, MQTT_PASSWORD: "wrong-password-0815" },
    });
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /Cannot connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+: it refused the credentials .*check MQTT_USERNAME and MQTT_PASSWORD or MQTT_PASSWORD_FILE/,
    );
    assert.ok(!refused.stderr.includes("wrong-password-0815"), "the password is never printed");
    assert.ok(!/^\s+at /m.test(refused.stderr), "no stack trace");
    assert.ok(!/--allow-/.test(refused.stderr), "no Deno flag");

    await Deno.writeTextFile(`${dataDir}/mqtt.password`, "right-password-4711\n", { mode: 0o600 });
    const [running] = await startMqttConsumer({
      ...env,
      MQTT_PASSWORD_FILE: `${dataDir}/mqtt.password`,
    });
    const { code } = await running.stop("SIGTERM");
    assert.equal(code, 0, running.err.join("\n"));
    assert.ok(!running.err.join("\n").includes("right-password-4711"));
  } finally {
    await sim.shutdown();
    await broker.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("consume mqtt over mqtts:// trusts MQTT_CA_FILE, and says so when it is the wrong CA", async () => {
  const certs = await makeTestCertificates(await Deno.makeTempDir({ prefix: "upbus-mqtt-tls-" }));
  const broker = await startMosquitto({
    tls: { certFile: `${certs.dir}/broker.pem`, keyFile: `${certs.dir}/broker.key` },
  });
  const sim = serveUpSimulator({ port: 0, seedTransactions: 1 });
  const dataDir = await serviceDataDir();
  try {
    assert.match(broker.url, /^mqtts:/);
    const env: Record<string, string> = {
      MQTT_URL: broker.url,
      UP_API_BASE: sim.baseUrl,
      UP_API_TOKEN: sim.token,
      DATA_DIR: dataDir,
      LOG_FORMAT: "json",
    };
    const wrong = await runUpbus(CONSUME, ["consume", "mqtt"], {
      env: { ...env, MQTT_CA_FILE: certs.otherCaFile },
    });
    assert.notEqual(wrong.code, 0);
    assert.match(
      wrong.stderr,
      /Cannot connect to the MQTT broker at mqtts:\/\/127\.0\.0\.1:\d+: its TLS certificate is not trusted .*MQTT_CA_FILE \(.*\) is not the CA that signed it/,
    );
    assert.ok(!/^\s+at /m.test(wrong.stderr), "no stack trace");
    const [running] = await startMqttConsumer({ ...env, MQTT_CA_FILE: certs.caFile });
    const { code } = await running.stop("SIGTERM");
    assert.equal(code, 0, running.err.join("\n"));
  } finally {
    await sim.shutdown();
    await broker.close();
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(certs.dir, { recursive: true });
  }
});

/**
 * @module MQTT consumer
 * The built-in `mqtt` consumer: Home Assistant (and any MQTT client) sees each Up account as a
 * device with its balance, spend today and this month, last transaction and a transaction event
 * entity. It replays `up.transactions` on every start into the position consumer's
 * {@linkcode Position} (so its figures are the dashboard's), anchors the balances with
 * `GET /accounts`, then announces the devices (retained discovery), keeps their retained state
 * current as records arrive, and sends each transaction's events (QoS 1, never retained) once:
 * from the SQLite outbox in `DATA_DIR/mqtt/`, after a quiet second following each
 * (re)discovery, marked sent when the broker acknowledged them. Records before where the last
 * run stopped looking only rebuild the state; on a first start that is the whole topic.
 */
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { Consumer, ConsumerMessage } from "../../bus/consumer.ts";
import type { Logger } from "../../runtime/log.ts";
import type { UpClient } from "../../up/client.ts";
import type { AccountResource, TransactionResource } from "../../up/types.ts";
import { createPositionConsumer, type PositionConsumer } from "../position/position_consumer.ts";
import { connectMqtt, type MqttConnection } from "./client.ts";
import { discoveryPayload } from "./discovery.ts";
import { eventPayload, eventTypesOf, transactionFields } from "./events.ts";
import type { MqttSettings } from "./settings.ts";
import { accountState } from "./state.ts";
import { MqttStateStore } from "./state_store.ts";
import { mqttTopics } from "./topics.ts";
import { DEFAULT_TIME_ZONE } from "../../runtime/dates.ts";

/** Options for {@linkcode createMqttConsumer}. */
export interface MqttConsumerOptions {
  /** The broker and the prefixes. */
  settings: MqttSettings;
  /** The Up client: `GET /accounts` names the devices and anchors the balances. */
  up: UpClient;
  /** The state file, `DATA_DIR/mqtt/state.db`. */
  statePath: string;
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /** The topic's end offsets at start, by partition (as for the position consumer). */
  endOffsets?: Record<number, string>;
  /** Milliseconds between reconciliations with `GET /accounts`. Default 300 000. */
  reconcileMs?: number;
  /** The time zone of "today" and "this month". Default `Australia/Sydney`. */
  timeZone?: string;
  /** Quiet time after each (re)discovery before events are sent, ms. Default 1000. */
  eventHoldMs?: number;
  /** Where it logs. */
  logger: Logger;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** The running `mqtt` consumer's handles. */
export interface MqttConsumer extends Consumer {
  /** The position consumer inside (the figures, `rebuilt`). */
  position: PositionConsumer;
  /** The state file. */
  store: MqttStateStore;
  /** Resolves once the devices were first announced. */
  announced: Promise<void>;
  /** Stops publishing, says `offline`, disconnects and closes the state file. */
  close(): Promise<void>;
}

/**
 * Creates the `mqtt` consumer and connects to the broker.
 *
 * @param options Broker, Up client, state file, topic, end offsets, schedule, time zone, logger.
 * @returns The consumer; run it with `startConsumer` (it replays: `replay: true`).
 * @throws {TypeError} If the broker cannot be reached or refuses the credentials.
 * @throws {Error} If the state file is of a newer version than this upbus knows.
 *
 * @example
 * ```ts ignore
 * const consumer = await createMqttConsumer({ settings, up, statePath, logger });
 * ```
 */
export async function createMqttConsumer(options: MqttConsumerOptions): Promise<MqttConsumer> {
  const { settings, logger } = options;
  const now = options.now ?? Date.now;
  const topic = options.topic ?? "up.transactions";
  const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
  const hold = options.eventHoldMs ?? 1000;
  const topics = mqttTopics(settings);
  const store = new MqttStateStore(options.statePath);

  // Where events start: on a first start, the end of the topic (what is there is history).
  const cursors = store.cursors(topic);
  if (cursors.size === 0) {
    const ends = Object.entries(options.endOffsets ?? {});
    if (ends.length === 0) ends.push(["0", "0"]);
    for (const [partition, end] of ends) {
      store.advance(topic, Number(partition), BigInt(end));
      cursors.set(Number(partition), BigInt(end));
    }
  }

  const known = new Map<string, TransactionResource>();
  /** The order transactions were first seen in, for those created in the same second. */
  const arrival = new Map<string, number>();
  const accounts = new Map<string, AccountResource>();
  const published = new Map<string, string>();
  const inFlight = new Set<number>();
  const dirty = new Set<string>();
  let announcedOnce = false;
  const { promise: announced, resolve: markAnnounced } = Promise.withResolvers<void>();
  let gateUntil = Number.POSITIVE_INFINITY;
  let gateTimer: ReturnType<typeof setTimeout> | undefined;
  let publishScheduled = false;
  let closed = false;
  let handledCount = 0;
  let connection: MqttConnection | undefined;

  function send(topicName: string, payload: string, retain = true): Promise<void> {
    if (connection === undefined || closed) return Promise.resolve();
    return connection.publish(topicName, payload, { qos: 1, retain }).catch((error: Error) => {
      if (!closed) {
        logger.warn("cannot publish to MQTT", { topic: topicName, error: error.message });
      }
    });
  }

  /** Publishes `payload` unless the same was published there last (state topics, retained). */
  function sendChanged(topicName: string, payload: string): void {
    if (published.get(topicName) === payload) return;
    published.set(topicName, payload);
    send(topicName, payload);
  }

  /** The account's newest transaction: by `createdAt` (whole seconds), then the later arrival. */
  function latestOf(accountId: string): TransactionResource | undefined {
    let latest: TransactionResource | undefined;
    let latestAt = 0;
    for (const transaction of known.values()) {
      if (transaction.relationships.account.data.id !== accountId) continue;
      const at = Date.parse(transaction.attributes.createdAt);
      if (
        latest === undefined || at > latestAt ||
        (at === latestAt && arrival.get(transaction.id)! > arrival.get(latest.id)!)
      ) {
        latest = transaction;
        latestAt = at;
      }
    }
    return latest;
  }

  function publishStates(only?: Iterable<string>): void {
    if (!announcedOnce) return;
    for (const accountId of only ?? accounts.keys()) {
      const account = accounts.get(accountId);
      if (account === undefined) continue;
      const state = accountState(position.position, accountId, {
        currency: account.attributes.balance.currencyCode,
        timeZone,
      });
      if (state !== null) sendChanged(topics.state(accountId), JSON.stringify(state));
      const latest = latestOf(accountId);
      if (latest !== undefined) {
        sendChanged(
          topics.lastTransaction(accountId),
          JSON.stringify(transactionFields(latest, account.attributes.displayName)),
        );
      }
    }
  }

  function schedulePublish(accountId: string): void {
    dirty.add(accountId);
    if (publishScheduled) return;
    publishScheduled = true;
    queueMicrotask(() => {
      publishScheduled = false;
      const accountIds = [...dirty];
      dirty.clear();
      publishStates(accountIds);
    });
  }

  function flushEvents(): void {
    if (closed || !announcedOnce || connection?.connected !== true || now() < gateUntil) return;
    for (const event of store.unsent()) {
      if (inFlight.has(event.seq)) continue;
      inFlight.add(event.seq);
      connection.publish(topics.event(event.accountId), event.payload, { qos: 1, retain: false })
        .then(
          () => {
            inFlight.delete(event.seq);
            if (!closed) store.markSent(event.seq, now());
          },
          (error: Error) => {
            inFlight.delete(event.seq);
            if (!closed) {
              logger.warn("cannot send an event; it stays queued", { error: error.message });
            }
          },
        );
    }
  }

  /** Holds events back for `hold` ms: Home Assistant may miss what follows discovery at once. */
  function holdEvents(): void {
    gateUntil = now() + hold;
    clearTimeout(gateTimer);
    gateTimer = setTimeout(flushEvents, hold);
  }

  /** Publishes every account's discovery (and removes gone ones), then every state. */
  function announce(reason: string): void {
    if (closed || accounts.size === 0 || connection?.connected !== true) return;
    holdEvents();
    const devices = store.devices();
    for (const [accountId, name] of devices) {
      if (accounts.has(accountId)) continue;
      logger.info("removing the device of an account Up no longer has", { accountId, name });
      for (
        const gone of [
          topics.discovery(accountId),
          topics.state(accountId),
          topics.lastTransaction(accountId),
        ]
      ) {
        published.delete(gone);
        send(gone, "");
      }
      store.removeDevice(accountId);
    }
    for (const account of accounts.values()) {
      send(topics.discovery(account.id), JSON.stringify(discoveryPayload(account, topics)));
      if (devices.get(account.id) !== account.attributes.displayName) {
        store.addDevice(account.id, account.attributes.displayName);
      }
    }
    // Retained state goes out again with the discovery, so a new subscriber has it at once.
    published.clear();
    const first = !announcedOnce;
    announcedOnce = true;
    publishStates();
    logger.info("devices announced to Home Assistant", {
      reason,
      accounts: accounts.size,
      discovery: `${settings.discoveryPrefix}/device/+/config`,
    });
    if (first) markAnnounced();
  }

  function onReconciled(list: AccountResource[]): void {
    const before = [...accounts.values()].map((a) => `${a.id}\u0000${a.attributes.displayName}`)
      .sort().join();
    accounts.clear();
    for (const account of list) accounts.set(account.id, account);
    const after = list.map((a) => `${a.id}\u0000${a.attributes.displayName}`).sort().join();
    if (!announcedOnce || before !== after) announce(announcedOnce ? "accounts changed" : "start");
    else publishStates();
  }

  const position = createPositionConsumer({
    topic,
    endOffsets: options.endOffsets,
    up: options.up,
    reconcileMs: options.reconcileMs,
    timeZone,
    logger,
    now,
    onReconciled,
  });

  try {
    connection = await connectMqtt(settings, {
      will: { topic: topics.status, payload: "offline" },
      subscribe: [topics.homeAssistantStatus],
      logger,
      onConnect() {
        // The first connection is announced below, once `connection` is set.
        if (connection === undefined) return;
        send(topics.status, "online");
        announce(announcedOnce ? "reconnected" : "start");
      },
      onMessage(topicName, payload) {
        if (topicName === topics.homeAssistantStatus && payload.trim() === "online") {
          announce("Home Assistant started");
        }
      },
    });
  } catch (error) {
    await position.close?.();
    store.close();
    throw error;
  }
  send(topics.status, "online");
  announce("start");

  function handle(message: ConsumerMessage): void {
    const { id, transaction } = readTransactionRecord(message.key, message.value);
    const previous = known.get(id);
    position.handle(message);
    const offset = BigInt(message.offset);
    const cursor = cursors.get(message.partition) ?? 0n;
    if (offset >= cursor) {
      const subject = transaction ?? previous;
      if (subject !== undefined) {
        const accountId = subject.relationships.account.data.id;
        const accountName = accounts.get(accountId)?.attributes.displayName;
        for (const type of eventTypesOf(previous, transaction)) {
          store.queue({
            transactionId: id,
            eventType: type,
            accountId,
            payload: JSON.stringify(eventPayload(type, subject, accountName)),
          });
        }
      }
      store.advance(topic, message.partition, offset + 1n);
      cursors.set(message.partition, offset + 1n);
    }
    if (transaction === null) {
      known.delete(id);
      arrival.delete(id);
    } else {
      known.set(id, transaction);
      if (!arrival.has(id)) arrival.set(id, handledCount);
    }
    handledCount++;
    const accountId = (transaction ?? previous)?.relationships.account.data.id;
    if (accountId !== undefined) schedulePublish(accountId);
    flushEvents();
  }

  return {
    name: "mqtt",
    topic,
    replay: true,
    handle,
    position,
    store,
    announced,
    async close() {
      closed = true;
      clearTimeout(gateTimer);
      try {
        await position.close?.();
        await connection?.close({ topic: topics.status, payload: "offline" });
      } finally {
        store.close();
      }
    },
  };
}

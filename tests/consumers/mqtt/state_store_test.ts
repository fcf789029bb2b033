/**
 * The `mqtt` consumer's state file: one event per transaction and type however often it is
 * queued, cursors that never move back, everything kept across a reopen, owner-only, and a file
 * of a newer version refused, unchanged.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MQTT_STATE_SCHEMA, MqttStateStore } from "../../../lib/consumers/mqtt/state_store.ts";

Deno.test("MqttStateStore queues an event once, keeps it unsent until acknowledged, across a reopen", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/mqtt/state.db`;
    const store = new MqttStateStore(path);
    const event = { transactionId: "tx-1", eventType: "purchase", accountId: "a", payload: "{}" };
    assert.equal(store.queue(event), true);
    assert.equal(store.queue(event), false, "the same transaction and type again");
    assert.equal(store.queue({ ...event, eventType: "settled" }), true);
    store.advance("up.transactions", 0, 10n);
    store.advance("up.transactions", 0, 4n);
    store.addDevice("a", "Spending");
    store.close();
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);

    const again = new MqttStateStore(path);
    const unsent = again.unsent();
    assert.deepEqual(unsent.map((e) => e.eventType), ["purchase", "settled"]);
    again.markSent(unsent[0].seq, Date.now());
    assert.deepEqual(again.counts(), { queued: 2, unsent: 1 });
    assert.equal(again.queue(event), false, "a sent event is not queued again");
    assert.deepEqual(
      [...again.cursors("up.transactions")],
      [[0, 10n]],
      "a cursor never moves back",
    );
    assert.deepEqual([...again.devices()], [["a", "Spending"]]);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MqttStateStore refuses a file of a newer version and leaves it as it is", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state.db`;
    new MqttStateStore(path).close();
    const newest = MQTT_STATE_SCHEMA.migrations.at(-1)!.version;
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${newest + 1}`);
    db.close();
    assert.throws(
      () => new MqttStateStore(path),
      new RegExp(
        `Cannot open ${path}: this mqtt consumer state has format version ${
          newest + 1
        }, written by a newer upbus; this version of upbus knows up to ${newest}\\.`,
      ),
    );
    const check = new DatabaseSync(path);
    assert.equal(
      (check.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      newest + 1,
    );
    check.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `upbus replay`, as `deno task replay` runs it: stored events published again with the relay's
 * keys, ids and headers plus upbus_replayed, to the local log (embedded) or Kafka, plan first. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { eventRecord } from "../../lib/bus/record.ts";
import { openEventStore } from "../../lib/store/event_store.ts";
import { buildWebhookEvent, encodeWebhookEvent } from "../../lib/up_sim/events.ts";
import { consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { runUpbus } from "../support/upbus_program.ts";

const replay = { command: "deno", prefix: ["run", "-q", "-P=replay", "main.ts"] };

/** A store of 4 events: an old CREATED, then CREATED, SETTLED and CREATED on 2026-12-07. */
async function storeWithEvents(dataDir: string) {
  const store = await openEventStore({ path: `${dataDir}/events.db` });
  const events = [
    ["TRANSACTION_CREATED", "tx-0", "2026-11-01T10:00:00+11:00"],
    ["TRANSACTION_CREATED", "tx-1", "2026-12-07T10:00:00+11:00"],
    ["TRANSACTION_SETTLED", "tx-1", "2026-12-07T11:00:00+11:00"],
    ["TRANSACTION_CREATED", "tx-2", "2026-12-07T12:00:00+11:00"],
  ] as const;
  for (const [type, transactionId, createdAt] of events) {
    const event = buildWebhookEvent(type, {
      webhookId: "wh-1",
      transactionId,
      baseUrl: "https://api.up.com.au/api/v1",
      createdAt: Date.parse(createdAt),
    });
    await store.append({
      eventId: event.data.id,
      type,
      webhookId: "wh-1",
      transactionId,
      createdAt: event.data.attributes.createdAt,
      body: new TextEncoder().encode(encodeWebhookEvent(event)),
      signature: "sig",
      receivedAt: "2026-12-07T01:00:00.000Z",
    });
  }
  await store.close();
  const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
  const ids = db.prepare("SELECT event_id FROM events ORDER BY seq").all() as {
    event_id: string;
  }[];
  db.close();
  return ids.map((row) => row.event_id);
}

Deno.test("replay publishes a span's events again, plan first, embedded and with Kafka", async (t) => {
  const dataDir = await serviceDataDir();
  try {
    const ids = await storeWithEvents(dataDir);
    const env = { DATA_DIR: dataDir, TZ: "Australia/Sydney" };
    const args = ["replay", "--since", "2026-12-07", "--type", "TRANSACTION_CREATED"];

    await t.step("embedded mode needs --to", async () => {
      const result = await runUpbus(replay, args, { env });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /embedded mode \(no KAFKA_BROKERS\) needs --to TOPIC/);
    });

    await t.step("--dry-run prints the plan and publishes nothing", async () => {
      const result = await runUpbus(replay, [...args, "--to", "rebuild", "--dry-run"], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /Plan \(dry run: nothing is published\):\n {2}2 events to .* local log rebuild \(2 TRANSACTION_CREATED\)/,
      );
      await assert.rejects(Deno.stat(`${dataDir}/pipeline.db`));
    });

    await t.step(
      "the records carry the relay's key, id and headers plus upbus_replayed",
      async () => {
        const result = await runUpbus(replay, [...args, "--to", "rebuild"], { env });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /Replayed 2 events/);
        const db = new DatabaseSync(`${dataDir}/pipeline.db`, { readOnly: true });
        const rows = db.prepare("SELECT key, headers FROM records WHERE topic = 'rebuild'")
          .all() as {
            key: string;
            headers: string;
          }[];
        db.close();
        assert.deepEqual(rows.map((row) => row.key), ["tx-1", "tx-2"]);
        const headers = rows.map((row) => JSON.parse(row.headers));
        assert.deepEqual(headers.map((h) => h.ce_id), [ids[1], ids[3]]);
        assert.ok(headers.every((h) => !Number.isNaN(Date.parse(h.upbus_replayed))));
        assert.equal(headers[0].up_signature, "sig");
        assert.equal(headers[0].ce_type, "au.com.up.webhook.transaction.created");
      },
    );

    await t.step("with Kafka, to --to, read back with kcat", async () => {
      const brokers = await testBrokers();
      const topic = `replay-${crypto.randomUUID().slice(0, 8)}`;
      const result = await runUpbus(replay, [...args, "--to", topic], {
        env: { ...env, KAFKA_BROKERS: brokers, KAFKA_TOPIC_PARTITIONS: "1" },
      });
      assert.equal(result.code, 0, result.stderr);
      const records = await consumeWithKcat(brokers, topic);
      assert.deepEqual(records.map((record) => record.key), ["tx-1", "tx-2"]);
      const store = await openEventStore({ path: `${dataDir}/events.db` });
      const original = eventRecord(store.get(ids[1])!);
      await store.close();
      const { upbus_replayed, ...rest } = kcatHeaders(records[0]);
      assert.ok(upbus_replayed);
      assert.deepEqual(rest, original.headers);
      assert.equal(records[0].payload, new TextDecoder().decode(original.value));
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** The event store's migration to version 2 (events.origin, the reconciled table): yesterday's
 * file opens with nothing lost or sent twice, and a newer file is refused unchanged. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openEventStore } from "../../lib/store/event_store.ts";
import { selectUnpublished } from "../../lib/store/queries.ts";
import { SCHEMA } from "../../lib/store/schema.ts";

/** A version 1 store as upbus wrote it before recovery: two events, the first published. */
function yesterdaysStore(path: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(SCHEMA);
  const insert = db.prepare(
    `INSERT INTO events (event_id, type, webhook_id, transaction_id, created_at, body, signature,
       received_at, published_at) VALUES (?, 'TRANSACTION_CREATED', 'wh', ?, '2026-12-06T10:00:00+11:00', ?, 'sig', '2026-12-05T23:00:01Z', ?)`,
  );
  insert.run("ev-1", "tx-1", new TextEncoder().encode('{"a":1}'), "2026-12-05T23:00:02Z");
  insert.run("ev-2", "tx-2", new TextEncoder().encode('{"a":2}'), null);
  db.close();
}

Deno.test("a version 1 event store opens as version 2 with every event and its publish mark", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.db`;
  yesterdaysStore(path);
  const store = await openEventStore({ path });
  try {
    assert.equal(store.counts().total, 2);
    assert.equal(store.counts().unpublished, 1, "the published one is not sent again");
    assert.equal(store.get("ev-1")?.publishedAt, "2026-12-05T23:00:02Z");
    assert.equal(store.get("ev-2")?.origin, undefined, "a live delivery has no origin");
    assert.equal(
      new TextDecoder().decode(store.get("ev-2")!.body),
      '{"a":2}',
      "the body byte for byte",
    );
    assert.equal(
      await store.append({
        eventId: "ev-3",
        type: "TRANSACTION_SETTLED",
        webhookId: "wh",
        transactionId: "tx-1",
        createdAt: "2026-12-07T10:00:00+11:00",
        body: new TextEncoder().encode('{"a":3}'),
        signature: "",
        receivedAt: "2026-12-07T00:00:00Z",
        origin: "recovered",
      }),
      "stored",
    );
    assert.equal(store.get("ev-3")?.origin, "recovered");
    assert.deepEqual([...store.known(["ev-1", "ev-9"])], ["ev-1"]);
    assert.deepEqual(
      store.transactionEvents(["tx-1"]).get("tx-1")?.map((event) => event.type),
      ["TRANSACTION_CREATED", "TRANSACTION_SETTLED"],
    );
  } finally {
    await store.close();
  }
  const db = new DatabaseSync(path, { readOnly: true });
  const { user_version } = db.prepare("PRAGMA user_version").get() as { user_version: number };
  assert.equal(user_version, 2);
  assert.deepEqual(selectUnpublished(db, { limit: 10 }).map((event) => event.eventId), [
    "ev-2",
    "ev-3",
  ]);
  db.close();
  // Opening again runs nothing twice.
  const again = await openEventStore({ path });
  assert.equal(again.counts().total, 3);
  await again.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an event store newer than this upbus is refused and left unchanged", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.db`;
  yesterdaysStore(path);
  const db = new DatabaseSync(path);
  db.exec("PRAGMA user_version = 99");
  db.close();
  const before = await Deno.readFile(path);
  await assert.rejects(
    openEventStore({ path }),
    /this event store has format version 99, written by a newer upbus; this version of upbus knows up to 2\..*The file was not changed/,
  );
  assert.deepEqual(await Deno.readFile(path), before);
  await Deno.remove(dir, { recursive: true });
});

/** The event store's migrations: to version 2 (events.origin, the reconciled table) and to version
 * 3 (the relay's mark): yesterday's file opens with nothing lost or sent twice, and a newer file
 * is refused unchanged. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openEventStore } from "../../lib/store/event_store.ts";
import { migrate, type MigrationReport } from "../../lib/runtime/versioned_db.ts";
import { countEvents, selectRelayProgress, selectUnpublished } from "../../lib/store/queries.ts";
import { EVENT_STORE_SCHEMA, SCHEMA } from "../../lib/store/schema.ts";

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

Deno.test("a version 1 event store opens at the latest version with every event and its publish mark", async () => {
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
  assert.equal(user_version, 3);
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
    /this event store has format version 99, written by a newer upbus; this version of upbus knows up to 3\..*The file was not changed/,
  );
  assert.deepEqual(await Deno.readFile(path), before);
  await Deno.remove(dir, { recursive: true });
});

/** A version 2 store as upbus wrote it before the relay's mark: each row marked on its own, and a
 * batch partly acknowledged when the service stopped (seqs 4 and 6 published, 3 and 5 not). */
function versionTwoStore(path: string, published: readonly number[], total: number): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  const two = { ...EVENT_STORE_SCHEMA, migrations: EVENT_STORE_SCHEMA.migrations.slice(0, 2) };
  migrate(db, path, two);
  const insert = db.prepare(
    `INSERT INTO events (event_id, type, webhook_id, created_at, body, signature, received_at,
       published_at) VALUES (?, 'PING', 'wh', '2026-12-06T10:00:00+11:00', ?, 'sig', '2026-12-05T23:00:01Z', ?)`,
  );
  for (let seq = 1; seq <= total; seq++) {
    insert.run(
      `ev-${seq}`,
      new TextEncoder().encode(`{"n":${seq}}`),
      published.includes(seq) ? "2026-12-05T23:00:02Z" : null,
    );
  }
  db.close();
}

Deno.test("a version 2 event store opens as version 3: the mark is where the first unpublished event waits", async (t) => {
  const cases: {
    name: string;
    published: number[];
    total: number;
    through: number;
    ahead: number[];
  }[] = [
    {
      name: "a batch partly acknowledged",
      published: [1, 2, 4, 6],
      total: 7,
      through: 2,
      ahead: [4, 6],
    },
    { name: "everything published", published: [1, 2, 3], total: 3, through: 3, ahead: [] },
    { name: "nothing published (embedded mode)", published: [], total: 3, through: 0, ahead: [] },
    { name: "an empty store", published: [], total: 0, through: 0, ahead: [] },
  ];
  for (const { name, published, total, through, ahead } of cases) {
    await t.step(name, async () => {
      const dir = await Deno.makeTempDir();
      const path = `${dir}/events.db`;
      versionTwoStore(path, published, total);
      const reports: MigrationReport[] = [];
      const store = await openEventStore({ path, onMigrated: (report) => reports.push(report) });
      await store.close();
      assert.equal(reports.length, 1);
      assert.equal(reports[0].from, 2);
      assert.equal(reports[0].to, 3);
      assert.equal(reports[0].backup, `${path}.v2.bak`, "a copy is kept first, and said where");
      const copy = new DatabaseSync(reports[0].backup!, { readOnly: true });
      assert.equal(
        (copy.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
        2,
      );
      assert.equal(
        (copy.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n,
        total,
      );
      copy.close();
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        assert.deepEqual(selectRelayProgress(db), { through, ahead });
        const waiting = Array.from({ length: total }, (_, i) => i + 1).filter((seq) =>
          !published.includes(seq)
        );
        assert.deepEqual(
          selectUnpublished(db, { limit: 100 }).map((event) => event.seq),
          waiting,
          "nothing published is sent again, nothing unpublished is skipped",
        );
        assert.deepEqual(countEvents(db), { total, unpublished: waiting.length });
        const index = db.prepare(
          "SELECT 1 FROM sqlite_master WHERE name = 'events_unpublished'",
        ).get();
        assert.equal(index, undefined, "the index of unpublished rows is gone");
      } finally {
        db.close();
      }
      await Deno.remove(dir, { recursive: true });
    });
  }
});

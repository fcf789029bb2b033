/**
 * The relay's mark (events.db version 3): what a partly acknowledged batch leaves in line, and a
 * service killed with -9 that resumes from its mark after the restart. Real SQLite files, a real
 * service process over HTTP, the shared test broker read back with kcat.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteRelaySource } from "../../lib/relay/relay_source.ts";
import { openEventStore } from "../../lib/store/event_store.ts";
import { countEvents, selectRelayProgress } from "../../lib/store/queries.ts";
import type { NewEvent } from "../../lib/store/types.ts";
import { SIGNATURE_HEADER, signBody } from "../../lib/webhook/signature.ts";
import { eventBody } from "../support/app.ts";
import { consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { waitFor } from "../support/pipeline.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { type RunningUpbus, sourceProgram, startServe } from "../support/upbus_program.ts";

function event(n: number): NewEvent {
  return {
    eventId: `ev-${n}`,
    type: "PING",
    webhookId: "wh",
    createdAt: "2026-12-07T10:00:00+11:00",
    body: new TextEncoder().encode(`{"n":${n}}`),
    signature: "sig",
    receivedAt: new Date().toISOString(),
  };
}

Deno.test("a partly acknowledged batch leaves its unacknowledged events first in line, none skipped or sent twice", async () => {
  const dir = await Deno.makeTempDir();
  const store = await openEventStore({ path: `${dir}/events.db` });
  try {
    for (let n = 1; n <= 10; n++) await store.append(event(n));
    const relay = new SqliteRelaySource(store.path);
    const seqs = (limit: number) => relay.unpublished(limit).map((stored) => stored.seq);
    assert.deepEqual(seqs(5), [1, 2, 3, 4, 5]);
    // Partitions of 3 and 5 did not acknowledge.
    relay.markPublished([1, 2, 4]);
    assert.deepEqual(seqs(5), [3, 5, 6, 7, 8], "the unacknowledged first, then the rest in order");
    assert.equal(relay.counts().unpublished, 7);
    assert.equal(store.counts().unpublished, 7, "the intake's reader counts alike");
    relay.close();

    // Another connection (a restarted relay) reads the same position from the file.
    const again = new SqliteRelaySource(store.path);
    const db = new DatabaseSync(store.path, { readOnly: true });
    try {
      assert.deepEqual(selectRelayProgress(db), { through: 2, ahead: [4] });
      again.markPublished([3, 5, 6]);
      assert.deepEqual(selectRelayProgress(db), { through: 6, ahead: [] }, "3 closes the gap");
      assert.deepEqual(again.unpublished(10).map((stored) => stored.seq), [7, 8, 9, 10]);
      again.markPublished([9]);
      again.markPublished([9]);
      assert.deepEqual(selectRelayProgress(db), { through: 6, ahead: [9] }, "a repeat is harmless");
      assert.deepEqual(again.unpublished(10).map((stored) => stored.seq), [7, 8, 10]);
      again.markPublished([8, 7, 10]);
      assert.deepEqual(selectRelayProgress(db), { through: 10, ahead: [] });
      assert.deepEqual(again.unpublished(10), []);
      assert.deepEqual(countEvents(db), { total: 10, unpublished: 0 });
      await store.append(event(11));
      assert.deepEqual(again.unpublished(10).map((stored) => stored.seq), [11]);
      assert.equal(store.get("ev-4")?.published, true);
      assert.equal(store.get("ev-11")?.published, false);
    } finally {
      db.close();
      again.close();
    }
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

const SECRET = "relay-mark-test-secret";

async function post(url: string, id: string): Promise<number> {
  const body = eventBody({ id, type: "TRANSACTION_CREATED", transactionId: `tx-${id}` });
  const response = await fetch(`${url}/webhook`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      [SIGNATURE_HEADER]: await signBody(body, SECRET),
    },
    body,
  });
  await response.body?.cancel();
  return response.status;
}

function progress(dataDir: string): { through: number; ahead: number[]; unpublished: number } {
  const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
  try {
    return { ...selectRelayProgress(db), unpublished: countEvents(db).unpublished };
  } finally {
    db.close();
  }
}

Deno.test("a service killed with -9 resumes relaying from its mark: every event once, only the unmarked again", async () => {
  const brokers = await testBrokers();
  const topic = `upbus-mark-${crypto.randomUUID()}`;
  const dataDir = await serviceDataDir();
  const env = {
    UP_WEBHOOK_SECRETS: SECRET,
    DATA_DIR: dataDir,
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: topic,
    KAFKA_TOPIC_PARTITIONS: "3",
    LOG_FORMAT: "json",
  };
  const running: RunningUpbus[] = [];
  try {
    const [first, url] = await startServe(sourceProgram(), env);
    running.push(first);
    for (let n = 0; n < 30; n++) assert.equal(await post(url, `before-${n}`), 200);
    await waitFor(() => progress(dataDir).unpublished === 0, "the first 30 published", 60_000);
    // A burst, and the service dies in the middle of relaying it.
    // (8 clients: the edge caps connections per address.)
    const burst = (await Promise.all(
      Array.from({ length: 8 }, async (_, client) => {
        const statuses: number[] = [];
        for (let n = 0; n < 5; n++) statuses.push(await post(url, `burst-${client}-${n}`));
        return statuses;
      }),
    )).flat();
    assert.deepEqual(burst.filter((status) => status !== 200), []);
    await first.stop("SIGKILL");
    const atKill = progress(dataDir);
    assert.ok(atKill.through >= 30, `the mark kept what was published: ${atKill.through}`);

    const [second, url2] = await startServe(sourceProgram(), env);
    running.push(second);
    for (let n = 0; n < 10; n++) assert.equal(await post(url2, `after-${n}`), 200);
    await waitFor(() => progress(dataDir).unpublished === 0, "everything published", 60_000);

    const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
    const seqOf = new Map(
      (db.prepare("SELECT seq, event_id FROM events").all() as { seq: number; event_id: string }[])
        .map((row) => [row.event_id, row.seq]),
    );
    db.close();
    assert.equal(seqOf.size, 80);
    const copies = new Map<string, number>();
    await waitFor(
      async () => {
        copies.clear();
        for (const record of await consumeWithKcat(brokers, topic)) {
          const id = kcatHeaders(record).ce_id;
          copies.set(id, (copies.get(id) ?? 0) + 1);
        }
        return copies.size >= seqOf.size;
      },
      "every stored event in Kafka",
      60_000,
    );
    assert.deepEqual([...seqOf.keys()].filter((id) => !copies.has(id)), [], "none lost");
    const marked = (seq: number) => seq <= atKill.through || atKill.ahead.includes(seq);
    const twiceMarked = [...copies].filter(([id, n]) => n > 1 && marked(seqOf.get(id)!));
    assert.deepEqual(twiceMarked, [], "nothing at or below the mark at the kill is sent again");
    const unmarked = [...seqOf.values()].filter((seq) => !marked(seq)).length;
    const extra = [...copies.values()].reduce((sum, n) => sum + n - 1, 0);
    assert.ok(extra <= unmarked, `${extra} copies beyond one; at most the ${unmarked} unmarked`);
    console.log(
      `  mark at the kill ${atKill.through} (+${atKill.ahead.length} out of line) of 70; ${extra} sent twice`,
    );
  } finally {
    await Promise.all(running.map((child) => child.stop("SIGTERM").catch(() => {})));
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

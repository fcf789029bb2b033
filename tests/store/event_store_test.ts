import assert from "node:assert/strict";
import { canMountTmpfs, mountTmpfs, resizeTmpfs, unmountTmpfs } from "../support/tmpfs.ts";
import { DatabaseSync } from "node:sqlite";
import { TextLineStream } from "../support/lines.ts";
import { openEventStore } from "../../lib/store/event_store.ts";
import { SqliteRelaySource } from "../../lib/relay/relay_source.ts";
import { type NewEvent, StoreUnavailableError } from "../../lib/store/types.ts";

function event(eventId: string, size = 64): NewEvent {
  return {
    eventId,
    type: "PING",
    webhookId: "w",
    createdAt: "2024-08-06T12:19:06+10:00",
    body: new Uint8Array(size).fill(0x7b),
    signature: "0".repeat(64),
    receivedAt: new Date().toISOString(),
  };
}

Deno.test("concurrent appends share commits (group commit) and each id is stored once", async () => {
  const dir = await Deno.makeTempDir();
  const store = await openEventStore({ path: `${dir}/events.db` });
  const ids = Array.from({ length: 400 }, (_, i) => `e${i % 300}`);
  const outcomes = await Promise.all(ids.map((id) => store.append(event(id))));
  assert.equal(outcomes.filter((o) => o === "stored").length, 300);
  assert.equal(outcomes.filter((o) => o === "duplicate").length, 100);
  assert.deepEqual(store.counts(), { total: 300, unpublished: 300 });
  const { appends, commits } = store.stats();
  assert.equal(appends, 400);
  assert.ok(commits <= 10, `${commits} commits for 400 concurrent appends`);
  const relaySide = new SqliteRelaySource(store.path);
  assert.deepEqual(relaySide.unpublished(3).map((e) => e.eventId), ["e0", "e1", "e2"]);
  for (const file of ["events.db", "events.db-wal", "events.db-shm"]) {
    assert.equal((await Deno.stat(`${dir}/${file}`)).mode! & 0o777, 0o600, `${file} is owner-only`);
  }
  relaySide.markPublished([1, 2]);
  assert.deepEqual(relaySide.unpublished(2).map((e) => e.eventId), ["e2", "e3"]);
  assert.equal(store.counts().unpublished, 298, "the intake's reader sees the relay's marks");
  assert.equal(store.get("e0")?.published, true);
  assert.equal(store.get("e2")?.published, false);
  assert.equal(store.get("e0")?.publishedAt, undefined, "no row is rewritten for its mark");
  relaySide.close();
  await store.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("every acknowledged append survives kill -9 of the writing process", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.db`;
  const acked = new Set<string>();
  for (const killAfter of [50, 400, 1500]) {
    await t.step(`killed after ${killAfter} acknowledgements`, async () => {
      const child = new Deno.Command("deno", {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          new URL("../support/store_child.ts", import.meta.url).pathname,
          path,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      let seen = 0;
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
        new TextLineStream(),
      );
      for await (const line of lines) {
        if (!line.startsWith("acked ")) continue;
        acked.add(line.slice(6));
        if (++seen === killAfter) child.kill("SIGKILL");
      }
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      const db = new DatabaseSync(path);
      const present = new Set(
        (db.prepare("SELECT event_id FROM events").all() as { event_id: string }[])
          .map((row) => row.event_id),
      );
      assert.equal(
        (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check,
        "ok",
      );
      db.close();
      const lost = [...acked].filter((id) => !present.has(id));
      assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged events lost`);
    });
  }
  await Deno.remove(dir, { recursive: true });
});

const mountable = await canMountTmpfs();
if (!mountable) console.log("skipping the disk-full test: mounting a tmpfs needs root on Linux");

Deno.test({
  name: "a full disk makes appends fail without losing what was committed, and recovers",
  ignore: !mountable,
  async fn() {
    const dir = await Deno.makeTempDir();
    assert.ok(await mountTmpfs(dir, "1m"));
    try {
      const store = await openEventStore({ path: `${dir}/events.db` });
      const committed: string[] = [];
      let failure: unknown;
      for (let i = 0; i < 10_000 && failure === undefined; i++) {
        try {
          await store.append(event(`full-${i}`, 2048));
          committed.push(`full-${i}`);
        } catch (error) {
          failure = error;
        }
      }
      assert.ok(failure instanceof StoreUnavailableError, String(failure));
      assert.match(failure.message, /full|disk|I\/O/i);
      assert.ok(committed.length > 10, `only ${committed.length} committed before: ${failure}`);
      for (const id of committed) assert.ok(store.get(id), `${id} lost`);
      assert.ok(await resizeTmpfs(dir, "4m"));
      assert.equal(await store.append(event("after-space-freed", 2048)), "stored");
      await store.close();
    } finally {
      await unmountTmpfs(dir);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "the store's readiness probe fails while webhooks are refused for a full disk, though one row still fits",
  ignore: !mountable,
  async fn() {
    const dir = await Deno.makeTempDir();
    assert.ok(await mountTmpfs(dir, "1m"));
    try {
      const store = await openEventStore({ path: `${dir}/events.db` });
      assert.equal(await store.append(event("before", 2048)), "stored");
      await store.probe();
      // A batch too big for what is left is rolled back; a one-row write still fits.
      await assert.rejects(store.append(event("too-big", 2_000_000)), StoreUnavailableError);
      await assert.rejects(store.probe(), /webhooks are answered 503: the last commit failed/);
      assert.ok(await resizeTmpfs(dir, "8m"));
      assert.equal(await store.append(event("after-space-freed", 2048)), "stored");
      await store.probe();
      await store.close();
    } finally {
      await unmountTmpfs(dir);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** `upbus dead-letters`, as `deno task dead-letters` runs it: list, show, and re-drive with a
 * plan first (a body an older upbus could not read is committed as the event it is now). */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openEventStore } from "../../lib/store/event_store.ts";
import { buildWebhookEvent, encodeWebhookEvent } from "../../lib/up_sim/events.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { runUpbus } from "../support/upbus_program.ts";

const program = { command: "deno", prefix: ["run", "-q", "-P=dead-letters", "main.ts"] };

Deno.test("dead-letters lists, shows and re-drives with a plan first", async (t) => {
  const dataDir = await serviceDataDir();
  try {
    const store = await openEventStore({ path: `${dataDir}/events.db` });
    const readable = buildWebhookEvent("TRANSACTION_CREATED", {
      webhookId: "wh-1",
      transactionId: "tx-1",
    });
    await store.append({
      eventId: "sha256:aaaa1111",
      invalidReason: "an older upbus could not read it",
      body: new TextEncoder().encode(encodeWebhookEvent(readable)),
      signature: "sig-1",
      receivedAt: "2026-12-07T00:00:00.000Z",
    });
    await store.append({
      eventId: "sha256:bbbb2222",
      invalidReason: "not JSON",
      body: new TextEncoder().encode("not json"),
      signature: "sig-2",
      receivedAt: "2026-12-07T00:00:01.000Z",
    });
    await store.close();
    const env = { DATA_DIR: dataDir };

    await t.step("list and show", async () => {
      const list = await runUpbus(program, ["dead-letters", "list"], { env });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /sha256:aaaa1111 .*an older upbus could not read it/);
      assert.match(list.stdout, /sha256:bbbb2222 .*not JSON/);
      const show = await runUpbus(program, ["dead-letters", "show", "bbbb"], { env });
      assert.match(show.stdout, /Body: {5}not json/);
      const missing = await runUpbus(program, ["dead-letters", "show", "cccc"], { env });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /dead letter "cccc" is not in the store/);
    });

    await t.step("redrive --dry-run plans and changes nothing", async () => {
      const before = await Deno.readFile(`${dataDir}/events.db`);
      const dry = await runUpbus(program, ["dead-letters", "redrive", "--all", "--dry-run"], {
        env,
      });
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(
        dry.stdout,
        new RegExp(`sha256:aaaa1111: now reads as TRANSACTION_CREATED ${readable.data.id}`),
      );
      assert.match(dry.stdout, /sha256:bbbb2222: still not an event .*: left as it is/);
      assert.match(dry.stdout, /Total: 1 of 2 to commit as events\./);
      assert.deepEqual(await Deno.readFile(`${dataDir}/events.db`), before);
    });

    await t.step("redrive commits the readable one once, with its signature", async () => {
      const first = await runUpbus(program, ["dead-letters", "redrive", "aaaa"], { env });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /Committed 1 events/);
      const again = await runUpbus(program, ["dead-letters", "redrive", "aaaa"], { env });
      assert.match(again.stdout, /Committed 0 events .*\(1 were there already\)/);
      const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
      const row = db.prepare(
        "SELECT type, transaction_id, signature FROM events WHERE event_id = ?",
      )
        .get(readable.data.id);
      db.close();
      assert.deepEqual({ ...row }, {
        type: "TRANSACTION_CREATED",
        transaction_id: "tx-1",
        signature: "sig-1",
      });
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

/**
 * Two processes of `notify` on one data directory share its outbox: a pending notification is
 * claimed by one of them only, so it is sent once (the chaos test saw a notification twice while a
 * second notify ran beside the first).
 */
import assert from "node:assert/strict";
import { Outbox } from "../../../lib/consumers/notify/outbox.ts";
import type { Notification } from "../../../lib/consumers/notify/notification.ts";

Deno.test("one of two outboxes on one file claims a pending notification; a lapsed claim is due again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-outbox-claim-" });
  const first = new Outbox(`${dir}/state.db`);
  const second = new Outbox(`${dir}/state.db`);
  try {
    const notification = { target: "phone", rule: "r", message: "m" } as unknown as Notification;
    first.record("tx-1", null, () => [{ key: "r/tx-1/deleted/0", notification }], 1_000);
    const [a] = first.pending();
    const [b] = second.pending();
    assert.equal(a.seq, b.seq);
    assert.equal(first.claim(a.seq, a.nextAt, 20_000), true, "the first claim wins");
    assert.equal(second.claim(b.seq, b.nextAt, 20_000), false, "the second, read before, loses");
    // The winner died while sending: the row is due again at the claim's end, once.
    const [again] = second.pending();
    assert.equal(again.nextAt, 20_000);
    assert.equal(second.claim(again.seq, again.nextAt, 40_000), true);
    second.markSent(again.seq, 1, 21_000);
    assert.equal(first.claim(a.seq, 20_000, 60_000), false, "a sent row is never claimed");
    assert.deepEqual(first.pending(), []);
  } finally {
    first.close();
    second.close();
    await Deno.remove(dir, { recursive: true });
  }
});

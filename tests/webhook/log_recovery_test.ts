/** Log recovery against the in-process simulator: what is missing, in what order, and once. */
import assert from "node:assert/strict";
import { createLogger } from "../../lib/runtime/log.ts";
import { openEventStore } from "../../lib/store/event_store.ts";
import { createUpClient } from "../../lib/up/client.ts";
import { createSimulatorControl } from "../../lib/up_sim/control.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { applyLogRecovery, planLogRecovery } from "../../lib/webhook/recovery/log_recovery.ts";
import { recoveryStore } from "../../lib/webhook/recovery/recovery_store.ts";

Deno.test("log recovery commits what Up gave up on, each transaction's events in their order, once", async () => {
  const dir = await Deno.makeTempDir();
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0, retryDelaysMs: [1] });
  const events = await openEventStore({ path: `${dir}/events.db` });
  const store = recoveryStore(events);
  const lines: string[] = [];
  try {
    const up = createUpClient({ token: sim.token, baseUrl: sim.baseUrl });
    const webhook = await up.webhooks.create({ url: "http://127.0.0.1:1/webhook" });
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
    // Created and settled within one second, many times: only the order of life tells them apart.
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const made = await control.createTransaction({ amount: "-1.00", description: `T${i}` });
      await control.settleTransaction(made.id);
      ids.push(made.id);
    }
    await sim.idle();
    const plans = await planLogRecovery(up, store, { webhookIds: [webhook.id, "gone-webhook"] });
    assert.equal(plans[0].entries, 20, "10 events, 2 attempts each");
    assert.equal(plans[0].missing.length, 10);
    assert.equal(plans[1].gone, true, "a webhook Up no longer has");
    const result = await applyLogRecovery(plans, store, {
      logger: createLogger({ write: (line) => lines.push(line) }),
    });
    assert.deepEqual(result, { recovered: 10, duplicates: 0 });
    assert.equal(lines.length, 10, "one line per recovered event");
    for (const id of ids) {
      const own = store.transactionEvents([id]).get(id)!.map((event) => event.type);
      assert.deepEqual(own, ["TRANSACTION_CREATED", "TRANSACTION_SETTLED"], `order of ${id}`);
    }
    // Nothing is missing any more; committing the same plan again writes nothing.
    const again = await planLogRecovery(up, store, { webhookIds: [webhook.id] });
    assert.equal(again[0].missing.length, 0);
    assert.deepEqual(
      await applyLogRecovery(plans, store, { logger: createLogger({ write() {} }) }),
      {
        recovered: 0,
        duplicates: 10,
      },
    );
    assert.ok(events.get(plans[0].missing[0].eventId)?.origin === "recovered");
  } finally {
    store.close();
    await events.close();
    await sim.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

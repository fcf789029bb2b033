/** Tests of the Up simulator: spec conformance of every response, delivery, retries and logs. */
import assert from "node:assert/strict";
import { createUpClient } from "../lib/up/client.ts";
import { createSimulatorControl } from "../lib/up/simulator/control.ts";
import { buildWebhookEvent, encodeWebhookEvent } from "../lib/up/simulator/events.ts";
import { serveUpSimulator } from "../lib/up/simulator/server.ts";
import type { WebhookDeliveryLogResource, WebhookEventCallback } from "../lib/up/types.ts";
import { loadUpSpec, type RecordedResponse, recordingFetch } from "./up_spec.ts";
import { startReceiver } from "./webhook_receiver.ts";

const TOKEN = "up:sim:simulator-test";
const spec = await loadUpSpec();

async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterator) items.push(item);
  return items;
}

function assertValid(records: RecordedResponse[]) {
  const problems = records.flatMap((record) => spec.validateResponse(record));
  assert.deepEqual(problems, []);
}

Deno.test("every simulator response validates against the Up spec", async (t) => {
  const receiver = startReceiver({ secrets: () => [] });
  const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [] });
  const records: RecordedResponse[] = [];
  const recorded = recordingFetch(records);
  const raw = (path: string, init: RequestInit = {}) =>
    recorded(`${sim.baseUrl}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${TOKEN}`, ...init.headers },
    }).then(async (response) => {
      await response.body?.cancel();
      return response.status;
    });
  try {
    const up = createUpClient({
      token: TOKEN,
      baseUrl: sim.baseUrl,
      fetch: recorded,
      maxRetries: 0,
    });
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: TOKEN });

    await t.step("success responses of every endpoint", async () => {
      await up.ping();
      const accounts = await collect(up.listAccounts({ pageSize: 1 }));
      await up.getAccount(accounts[0].id);
      await collect(up.listAccountTransactions(accounts[0].id, { pageSize: 20 }));
      const held = await control.createTransaction({
        amount: "-12.50",
        description: "Campos Coffee",
        category: "restaurants-and-cafes",
      });
      await control.createTransaction({ amount: "150.00", description: "Pay day" });
      await collect(up.listTransactions({ pageSize: 7 }));
      await collect(up.listTransactions({ status: "HELD", category: "good-life" }));
      await up.getTransaction(held.id);
      const webhook = await up.webhooks.create({ url: receiver.url, description: "spec test" });
      await up.webhooks.create({ url: `${receiver.url}?second` });
      await up.webhooks.get(webhook.id);
      await collect(up.webhooks.list({ pageSize: 1 }));
      await up.webhooks.ping(webhook.id);
      await sim.idle();
      await collect(up.webhooks.logs(webhook.id, { pageSize: 1 }));
      await up.webhooks.delete(webhook.id);
      assert.ok(records.length >= 15);
      assertValid(records);
    });

    await t.step("error responses: 401, 404, 400, 429 and 5xx", async () => {
      records.length = 0;
      assert.equal(await raw("/util/ping", { headers: { Authorization: "Bearer wrong" } }), 401);
      assert.equal(await raw("/accounts", { headers: { Authorization: "" } }), 401);
      assert.equal(await raw("/transactions/nope"), 404);
      assert.equal(await raw("/webhooks/nope"), 404);
      assert.equal(await raw("/transactions?filter[category]=nope"), 404);
      assert.equal(await raw("/transactions?page[size]=101"), 400);
      assert.equal(await raw("/transactions?page[after]=garbage"), 400);
      assert.equal(await raw("/transactions?filter[since]=yesterday"), 400);
      assert.equal(
        await raw("/webhooks", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ data: { attributes: { url: "not a url" } } }),
        }),
        400,
      );
      sim.injectFaults({ status: 429, rateLimitRemaining: 0 });
      assert.equal(await raw("/accounts"), 429);
      sim.injectFaults({ status: 503 });
      assert.equal(await raw("/webhooks"), 503);
      assertValid(records);
      const problem = JSON.parse(records[5].body);
      assert.deepEqual(problem.errors[0].source, { parameter: "page[size]" });
    });

    await t.step("the 401 body is exactly the spec's example", async () => {
      const example = JSON.parse(
        await Deno.readTextFile(new URL("./testdata/up_openapi.json", import.meta.url)),
      ).paths["/util/ping"].get.responses["401"]["x-up:example"].response;
      assert.deepEqual(JSON.parse(records[0].body), example);
    });
  } finally {
    await sim.shutdown();
    await receiver.shutdown();
  }
});

Deno.test("the simulator delivers signed events in Up's compact wire format", async (t) => {
  let secret = "";
  const receiver = startReceiver({ secrets: () => [secret] });
  const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [] });
  try {
    const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: TOKEN });
    const webhook = await up.webhooks.create({ url: receiver.url });
    secret = webhook.attributes.secretKey!;
    const [spending] = await collect(up.listAccounts({ accountType: "TRANSACTIONAL" }));
    const opening = spending.attributes.balance.valueInBaseUnits;

    let transactionId = "";
    await t.step("TRANSACTION_CREATED arrives verified, with a transaction link", async () => {
      const created = await control.createTransaction({
        amount: "-12.50",
        description: "Campos Coffee",
        category: "restaurants-and-cafes",
      });
      transactionId = created.id;
      await sim.idle();
      await receiver.waitFor(1);
      const [arrival] = receiver.received;
      assert.equal(arrival.verified, true);
      const event: WebhookEventCallback = JSON.parse(arrival.body);
      assert.deepEqual(spec.validateSchema("WebhookEventCallback", event), []);
      assert.equal(arrival.body, JSON.stringify(event), "the body is compact JSON");
      assert.equal(event.data.attributes.eventType, "TRANSACTION_CREATED");
      assert.equal(event.data.relationships.webhook.data.id, webhook.id);
      assert.equal(event.data.relationships.transaction?.data.id, transactionId);
      const link = event.data.relationships.transaction?.links?.related;
      assert.equal(link, `${sim.baseUrl}/transactions/${transactionId}`);
      const transaction = await up.getTransaction(transactionId);
      assert.equal(transaction.attributes.status, "HELD");
      assert.equal(transaction.attributes.amount.value, "-12.50");
      assert.equal(transaction.relationships.category.data?.id, "restaurants-and-cafes");
      assert.equal(transaction.relationships.parentCategory.data?.id, "good-life");
    });

    await t.step("the balance follows the transaction", async () => {
      const account = await up.getAccount(spending.id);
      assert.equal(account.attributes.balance.valueInBaseUnits, opening - 1250);
    });

    await t.step(
      "TRANSACTION_SETTLED arrives with a link, and the transaction is SETTLED",
      async () => {
        await control.settleTransaction(transactionId);
        await sim.idle();
        await receiver.waitFor(2);
        const event: WebhookEventCallback = JSON.parse(receiver.received[1].body);
        assert.equal(event.data.attributes.eventType, "TRANSACTION_SETTLED");
        assert.ok(event.data.relationships.transaction?.links?.related);
        const transaction = await up.getTransaction(transactionId);
        assert.equal(transaction.attributes.status, "SETTLED");
        assert.ok(transaction.attributes.settledAt);
      },
    );

    await t.step("TRANSACTION_DELETED names the transaction without a link", async () => {
      const held = await control.createTransaction({ amount: "-200.00", description: "Hotel" });
      await control.deleteTransaction("latest");
      await sim.idle();
      await receiver.waitFor(4);
      const event: WebhookEventCallback = JSON.parse(receiver.received[3].body);
      assert.equal(event.data.attributes.eventType, "TRANSACTION_DELETED");
      assert.deepEqual(event.data.relationships.transaction, {
        data: { type: "transactions", id: held.id },
      });
      assert.deepEqual(spec.validateSchema("WebhookEventCallback", event), []);
      const account = await up.getAccount(spending.id);
      assert.equal(account.attributes.balance.valueInBaseUnits, opening - 1250);
    });

    await t.step("a settled transaction cannot be deleted", async () => {
      await assert.rejects(control.deleteTransaction(transactionId), /only HELD transactions/);
    });

    await t.step("the event's members are in the order of Up's wire example", async () => {
      const example = await Deno.readTextFile(
        new URL("./testdata/up_webhook_event_transaction_created.raw_body.json", import.meta.url),
      );
      const shape = (body: string) =>
        body.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "ID").replace(
          /"\d{4}-[^"]+"/g,
          '"TIME"',
        )
          .replace(/https?:\/\/[^/]+\/api\/v1/g, "BASE");
      assert.equal(shape(receiver.received[0].body), shape(example));
      const built = encodeWebhookEvent(buildWebhookEvent("TRANSACTION_CREATED", {
        webhookId: "cce901e8-e10b-4d4d-a615-f1902e4736d4",
        transactionId: "169c1684-45c7-41c1-95fa-97082b319e6c",
        id: "011308c1-861c-4d04-ba85-f867eadf202d",
        createdAt: Date.parse("2024-08-05T12:20:07+10:00"),
      }));
      assert.equal(built, example);
    });

    await t.step("each attempt is logged as DELIVERED with request and response", async () => {
      const logs = await collect(up.webhooks.logs(webhook.id));
      assert.equal(logs.length, 4);
      assert.ok(logs.every((log) => log.attributes.deliveryStatus === "DELIVERED"));
      assert.equal(logs[3].attributes.request.body, receiver.received[0].body);
      assert.deepEqual(logs[0].attributes.response, {
        statusCode: 200,
        body: '{"ok":true,"verified":true}',
      });
    });
  } finally {
    await sim.shutdown();
    await receiver.shutdown();
  }
});

Deno.test("the simulator retries until HTTP 200 and logs every attempt", async (t) => {
  await t.step("201 and 500 are BAD_RESPONSE_CODE and retried; then DELIVERED", async () => {
    let secret = "";
    const receiver = startReceiver({ secrets: () => [secret], statuses: [201, 500] });
    const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [5, 5, 5] });
    try {
      const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
      const webhook = await up.webhooks.create({ url: receiver.url });
      secret = webhook.attributes.secretKey!;
      const ping = await up.webhooks.ping(webhook.id);
      await sim.idle();
      assert.equal(receiver.received.length, 3);
      assert.ok(receiver.received.every((arrival) => arrival.body === JSON.stringify(ping)));
      const logs = await collect(up.webhooks.logs(webhook.id));
      const summary = (log: WebhookDeliveryLogResource) =>
        `${log.attributes.deliveryStatus} ${log.attributes.response?.statusCode}`;
      assert.deepEqual(logs.map(summary), [
        "DELIVERED 200",
        "BAD_RESPONSE_CODE 500",
        "BAD_RESPONSE_CODE 201",
      ]);
      assert.ok(logs.every((log) => log.relationships.webhookEvent.data.id === ping.data.id));
    } finally {
      await sim.shutdown();
      await receiver.shutdown();
    }
  });

  await t.step(
    "an unreachable URL is UNDELIVERABLE, retried as scheduled, then given up",
    async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [1, 1] });
      try {
        const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
        const webhook = await up.webhooks.create({ url: `http://127.0.0.1:${port}/webhook` });
        await up.webhooks.ping(webhook.id);
        await sim.idle();
        const logs = await collect(up.webhooks.logs(webhook.id));
        assert.equal(logs.length, 3);
        for (const log of logs) {
          assert.equal(log.attributes.deliveryStatus, "UNDELIVERABLE");
          assert.equal(log.attributes.response, null);
        }
      } finally {
        await sim.shutdown();
      }
    },
  );

  await t.step("a response slower than the timeout is UNDELIVERABLE", async () => {
    const receiver = startReceiver({ secrets: () => [], delayMs: 300 });
    const sim = serveUpSimulator({
      port: 0,
      token: TOKEN,
      retryDelaysMs: [],
      deliveryTimeoutMs: 50,
    });
    try {
      const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
      const webhook = await up.webhooks.create({ url: receiver.url });
      await up.webhooks.ping(webhook.id);
      await sim.idle();
      const [log] = await collect(up.webhooks.logs(webhook.id));
      assert.equal(log.attributes.deliveryStatus, "UNDELIVERABLE");
      await receiver.waitFor(1);
    } finally {
      await sim.shutdown();
      await receiver.shutdown();
    }
  });

  await t.step("deleting a webhook stops its retries", async () => {
    const receiver = startReceiver({ secrets: () => [], statuses: [500, 500, 500] });
    const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [100, 100] });
    try {
      const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
      const webhook = await up.webhooks.create({ url: receiver.url });
      await up.webhooks.ping(webhook.id);
      await receiver.waitFor(1);
      await up.webhooks.delete(webhook.id);
      await sim.idle();
      assert.equal(receiver.received.length, 1);
    } finally {
      await sim.shutdown();
      await receiver.shutdown();
    }
  });
});

Deno.test("the simulator enforces Up's limits", async (t) => {
  const sim = serveUpSimulator({ port: 0, token: TOKEN, rateLimitPerHour: 3, webhookLimit: 2 });
  try {
    const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl, maxRetries: 0 });
    await t.step("at most webhookLimit webhooks", async () => {
      await up.webhooks.create({ url: "http://127.0.0.1:9/a" });
      await up.webhooks.create({ url: "http://127.0.0.1:9/b" });
      await assert.rejects(up.webhooks.create({ url: "http://127.0.0.1:9/c" }), /limit of 2/);
    });
    await t.step("the hourly request budget ends in 429 with X-RateLimit-Remaining 0", async () => {
      await assert.rejects(up.ping(), /HTTP 429/);
      assert.equal(up.rateLimitRemaining, 0);
    });
  } finally {
    await sim.shutdown();
  }
});

Deno.test("the simulator's control API settles and deletes, refusing what cannot be done", async (t) => {
  const sim = serveUpSimulator({ port: 0, token: TOKEN, seedTransactions: 0 });
  try {
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: TOKEN });
    const data = await control.createTransaction({ amount: "-4.20", description: "Tea" });
    await t.step("a HELD transaction settles once; settling again is a 409", async () => {
      assert.equal((await control.settleTransaction(data.id)).attributes.status, "SETTLED");
      await assert.rejects(control.settleTransaction(data.id), /409/);
    });
    await t.step("an unknown transaction is a 404, for settle and delete alike", async () => {
      await assert.rejects(control.settleTransaction("no-such-id"), /404/);
      await assert.rejects(control.deleteTransaction("no-such-id"), /404/);
    });
    await t.step("a SETTLED transaction cannot be deleted; a HELD one can", async () => {
      await assert.rejects(control.deleteTransaction(data.id), /409/);
      const held = await control.createTransaction({ amount: "-1.00", description: "Gum" });
      assert.equal((await control.deleteTransaction(held.id)).id, held.id);
      const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl, maxRetries: 0 });
      await assert.rejects(up.getTransaction(held.id), /404|not found/i);
    });
  } finally {
    await sim.shutdown();
  }
});

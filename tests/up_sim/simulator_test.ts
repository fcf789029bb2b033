/** Tests of the Up simulator: spec conformance of every response, delivery, retries and logs. */
import assert from "node:assert/strict";
import { createUpClient } from "../../lib/up/client.ts";
import type { UpApiError } from "../../lib/up/errors.ts";
import { createUpSimulator } from "../../lib/up_sim/app.ts";
import { createSimulatorControl } from "../../lib/up_sim/control.ts";
import { transactionResource } from "../../lib/up_sim/resources.ts";
import { buildWebhookEvent, encodeWebhookEvent } from "../../lib/up_sim/events.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import type { WebhookDeliveryLogResource, WebhookEventCallback } from "../../lib/up/types.ts";
import { loadUpSpec, type RecordedResponse, recordingFetch } from "../support/up_spec.ts";
import { startReceiver } from "../support/webhook_receiver.ts";

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
      await control.transfer({ amount: "40.00" });
      await up.listCategories();
      const categories = await recorded(`${sim.baseUrl}/categories?filter[parent]=good-life`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      assert.equal((await categories.json()).data.length, 3);
      await (await recorded(`${sim.baseUrl}/categories/groceries`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      })).body?.cancel();
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
      assert.equal(await raw("/categories/nope"), 404);
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
      const problem = JSON.parse(records[6].body);
      assert.deepEqual(problem.errors[0].source, { parameter: "page[size]" });
    });

    await t.step("the 401 body is exactly the spec's example", async () => {
      const example = JSON.parse(
        await Deno.readTextFile(new URL("../testdata/up_openapi.json", import.meta.url)),
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
        new URL("../testdata/up_webhook_event_transaction_created.raw_body.json", import.meta.url),
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
      await assert.rejects(control.settleTransaction(data.id), (error: UpApiError) => {
        assert.equal(error.status, 409);
        assert.equal(
          error.message,
          `Cannot settle transaction ${data.id}: it is already SETTLED`,
        );
        return true;
      });
    });
    await t.step("an unknown transaction is a 404, for settle and delete alike", async () => {
      await assert.rejects(control.settleTransaction("no-such-id"), (error: UpApiError) => {
        assert.equal(error.status, 404);
        assert.equal(
          error.message,
          "Cannot settle transaction no-such-id: the simulator has no such transaction",
        );
        return true;
      });
      await assert.rejects(
        control.deleteTransaction("no-such-id"),
        /^UpNotFoundError: Cannot delete transaction no-such-id: the simulator has no such transaction$/,
      );
    });
    await t.step("with nothing HELD, settle and delete of latest say so in words", async () => {
      for (const act of [control.settleTransaction, control.deleteTransaction]) {
        await assert.rejects(act("latest"), (error: Error) => {
          assert.match(error.message, /the simulator holds no HELD transaction, create one first/);
          assert.doesNotMatch(error.message, /HTTP 404|latest/);
          return true;
        });
      }
    });
    await t.step("a SETTLED transaction cannot be deleted; a HELD one can", async () => {
      await assert.rejects(control.deleteTransaction(data.id), /only HELD transactions/);
      const held = await control.createTransaction({ amount: "-1.00", description: "Gum" });
      assert.equal((await control.deleteTransaction(held.id)).id, held.id);
      const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl, maxRetries: 0 });
      await assert.rejects(up.getTransaction(held.id), /404|not found/i);
    });
  } finally {
    await sim.shutdown();
  }
});

Deno.test("the simulator has income, transfers and Up's category names", async (t) => {
  const sim = serveUpSimulator({ port: 0, token: TOKEN, seedTransactions: 0 });
  try {
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: TOKEN });
    const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl, maxRetries: 0 });
    const [spending, savings] = sim.bank.accounts;

    await t.step("a positive amount is income with no category", async () => {
      const salary = await control.createTransaction({ amount: "2500", description: "Salary" });
      const fetched = await up.getTransaction(salary.id);
      assert.equal(fetched.attributes.amount.value, "2500.00");
      assert.equal(fetched.relationships.category.data, null);
      assert.equal(fetched.relationships.parentCategory.data, null);
      assert.equal(fetched.attributes.transactionType, "Deposit");
      assert.equal(fetched.attributes.cardPurchaseMethod, null);
    });

    await t.step("income with a category is refused, and nothing is created", async () => {
      const before = sim.bank.transactions.length;
      await assert.rejects(
        control.createTransaction({
          amount: "20.00",
          description: "Refund",
          category: "restaurants-and-cafes",
        }),
        /income, which Up does not categorise/,
      );
      assert.equal(sim.bank.transactions.length, before);
    });

    await t.step("a transfer is two settled transactions naming each other's account", async () => {
      const spendingBefore = sim.bank.balanceOf(spending.id);
      const savingsBefore = sim.bank.balanceOf(savings.id);
      const { transactions: [out, back] } = await control.transfer({
        amount: "100.00",
        from: "spending",
        to: savings.id,
      });
      assert.equal(out.relationships.account.data.id, spending.id);
      assert.equal(out.relationships.transferAccount.data?.id, savings.id);
      assert.equal(out.attributes.amount.valueInBaseUnits, -10_000);
      assert.equal(out.attributes.description, "Transfer to Savings");
      assert.equal(back.relationships.account.data.id, savings.id);
      assert.equal(back.relationships.transferAccount.data?.id, spending.id);
      assert.equal(back.attributes.amount.valueInBaseUnits, 10_000);
      assert.equal(back.attributes.description, "Transfer from Spending");
      for (const leg of [out, back]) {
        assert.equal(leg.attributes.status, "SETTLED");
        assert.equal(leg.relationships.category.data, null);
        assert.equal(leg.attributes.transactionType, "Transfer");
      }
      assert.equal(sim.bank.balanceOf(spending.id), spendingBefore - 10_000);
      assert.equal(sim.bank.balanceOf(savings.id), savingsBefore + 10_000);
    });

    await t.step("a transfer to the same account or an unknown one is refused", async () => {
      await assert.rejects(
        control.transfer({ amount: "1.00", from: "Savings", to: "savings" }),
        /both accounts are the same/,
      );
      await assert.rejects(
        control.transfer({ amount: "1.00", to: "Holiday" }),
        /no account "Holiday", expected one of Spending, Savings/,
      );
    });

    await t.step("categories carry Up's names and their tree", async () => {
      const categories = await up.listCategories();
      const byId = new Map(categories.map((category) => [category.id, category]));
      assert.equal(byId.get("restaurants-and-cafes")?.attributes.name, "Restaurants & Cafes");
      assert.equal(byId.get("restaurants-and-cafes")?.relationships.parent.data?.id, "good-life");
      assert.deepEqual(
        byId.get("transport")?.relationships.children.data.map((child) => child.id),
        ["fuel", "public-transport"],
      );
    });

    await t.step("transactions carry a deepLinkURL into Up's app", async () => {
      const [latest] = await collect(up.listTransactions({ pageSize: 1 }));
      assert.equal(latest.attributes.deepLinkURL, `up://transaction/${latest.id}`);
    });
  } finally {
    await sim.shutdown();
  }
});

Deno.test("the simulator dates transactions with Sydney's offset for the day", () => {
  const summer = Date.parse("2026-12-01T21:00:00Z");
  const winter = Date.parse("2026-07-01T21:00:00Z");
  for (
    const [now, expected] of [[summer, "2026-12-02T08:00:00+11:00"], [
      winter,
      "2026-07-02T07:00:00+10:00",
    ]] as const
  ) {
    const sim = createUpSimulator({ now: () => now, seedTransactions: 0 });
    const made = sim.bank.addTransaction({ amountCents: -100, description: "Tea" });
    const resource = transactionResource(made, "http://127.0.0.1/api/v1");
    assert.equal(resource.attributes.createdAt, expected);
    assert.equal(Date.parse(resource.attributes.createdAt), now);
  }
});

Deno.test("the simulator keeps its state in an owner-only file across restarts", async () => {
  const dir = await Deno.makeTempDir();
  const statePath = `${dir}/state/up-sim.json`;
  try {
    const first = createUpSimulator({ statePath, seedTransactions: 3 });
    const made = first.bank.addTransaction({ amountCents: -450, description: "Kept" });
    const webhook = first.bank.addWebhook("http://127.0.0.1:1/webhook", "kept");
    await first.close();
    assert.equal((await Deno.stat(statePath)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);

    const second = createUpSimulator({ statePath, seedTransactions: 3 });
    try {
      assert.deepEqual(
        second.bank.accounts.map((account) => account.id),
        first.bank.accounts.map((account) => account.id),
      );
      assert.equal(second.bank.transactions.length, 4, "3 seeded once, plus 1; no second seed");
      assert.equal(second.bank.findTransaction(made.id)?.description, "Kept");
      assert.equal(second.bank.findWebhook(webhook.id)?.secretKey, webhook.secretKey);
      second.bank.settle(second.bank.findTransaction(made.id)!);
    } finally {
      await second.close();
    }
    const third = createUpSimulator({ statePath });
    assert.equal(third.bank.findTransaction(made.id)?.status, "SETTLED");
    await third.close();

    await Deno.writeTextFile(statePath, "not json");
    assert.throws(
      () => createUpSimulator({ statePath }),
      /is not a simulator state file, move it away to start afresh/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("seedMonth gives the simulator a month of pay, rent, bills and transfers", () => {
  const now = Date.parse("2026-12-01T21:00:00Z");
  const sim = createUpSimulator({ now: () => now, seedTransactions: 25, seedMonth: true });
  const { transactions } = sim.bank;
  const income = transactions.filter((t) => t.amountCents > 0 && !t.transferAccountId);
  const transfers = transactions.filter((t) => t.transferAccountId);
  assert.equal(transactions.length, 25 + 23);
  assert.deepEqual(income.map((t) => t.description), ["Salary", "Salary"]);
  assert.equal(transfers.length, 4, "two transfers, two legs each");
  assert.ok(transactions.every((t) => t.status === "SETTLED"));
  const oldest = Math.min(...transactions.map((t) => t.createdAt));
  assert.ok(now - oldest < 30 * 24 * 3_600_000, "all within the dashboard's 30 days");
  assert.ok(
    sim.bank.balanceOf(sim.bank.accounts[0].id) > 0,
    "the spending account stays in credit",
  );
});

Deno.test("the simulator gives up, pages its logs newest first and purges them", async (t) => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const records: RecordedResponse[] = [];
  const sim = serveUpSimulator({
    port: 0,
    token: TOKEN,
    retryDelaysMs: [20, 20, 20, 5_000],
    giveUpMs: 200,
  });
  try {
    const up = createUpClient({
      token: TOKEN,
      baseUrl: sim.baseUrl,
      fetch: recordingFetch(records),
    });
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: TOKEN });
    const webhook = await up.webhooks.create({ url: `http://127.0.0.1:${port}/webhook` });
    const pings: WebhookEventCallback[] = [];
    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      pings.push(await up.webhooks.ping(webhook.id));
      await sim.idle();
    }

    await t.step("the retry that would start after --give-up is not made", async () => {
      assert.ok(Date.now() - started < 3_000, "the 5 s retries were skipped");
      const logs = await collect(up.webhooks.logs(webhook.id, { pageSize: 5 }));
      assert.equal(logs.length, 12, "4 attempts for each of 3 events");
      assert.ok(logs.every((log) => log.attributes.deliveryStatus === "UNDELIVERABLE"));
    });

    await t.step("pages follow links.next, newest first, each valid against the spec", async () => {
      const logs = await collect(up.webhooks.logs(webhook.id, { pageSize: 5 }));
      const times = logs.map((log) => Date.parse(log.attributes.createdAt));
      assert.deepEqual(times, [...times].sort((a, b) => b - a));
      assert.equal(logs[0].relationships.webhookEvent.data.id, pings[2].data.id);
      assert.equal(logs.at(-1)!.relationships.webhookEvent.data.id, pings[0].data.id);
      assert.equal(logs.at(-1)!.attributes.request.body, JSON.stringify(pings[0]));
      assertValid(records);
      assert.ok(records.some((record) => record.url.includes("page%5Bafter%5D")));
    });

    await t.step("a purge removes the logs, as Up may", async () => {
      assert.equal(await control.purgeLogs({ webhookId: webhook.id }), 12);
      assert.deepEqual(await collect(up.webhooks.logs(webhook.id)), []);
    });
  } finally {
    await sim.shutdown();
  }
});

Deno.test("a 5xx answer is logged BAD_RESPONSE_CODE with its status and body", async () => {
  const receiver = startReceiver({ secrets: () => [], statuses: [503] });
  const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [] });
  try {
    const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
    const webhook = await up.webhooks.create({ url: receiver.url });
    await up.webhooks.ping(webhook.id);
    await sim.idle();
    const [log] = await collect(up.webhooks.logs(webhook.id));
    assert.equal(log.attributes.deliveryStatus, "BAD_RESPONSE_CODE");
    assert.equal(log.attributes.response?.statusCode, 503);
  } finally {
    await sim.shutdown();
    await receiver.shutdown();
  }
});

import assert from "node:assert/strict";
import { SIGNATURE_HEADER, signBody } from "../../lib/webhook/signature.ts";
import { type WebhookStateEntry, writeWebhookState } from "../../lib/up/webhook_state.ts";
import { eventBody, readTestdata, SECRET, signedPost, testApp } from "../support/app.ts";

const EVENT_ID = "011308c1-861c-4d04-ba85-f867eadf202d";

async function json(response: Response): Promise<Record<string, unknown>> {
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  return await response.json();
}

Deno.test("POST /webhook stores the spec's example byte for byte and answers exactly 200", async () => {
  await using t = await testApp();
  const raw = await readTestdata("transaction_created.raw.json");
  const response = await t.app.request("/webhook", await signedPost(raw));
  assert.equal(response.status, 200);
  assert.deepEqual(await json(response), {
    status: "stored",
    eventId: EVENT_ID,
    type: "TRANSACTION_CREATED",
  });
  const stored = t.store.get(EVENT_ID);
  assert.ok(stored);
  assert.deepEqual(stored.body, raw);
  assert.equal(stored.transactionId, "169c1684-45c7-41c1-95fa-97082b319e6c");
  assert.equal(stored.signature, await signBody(raw, SECRET));
  assert.equal(t.store.counts().total, 1);
});

Deno.test("POST /webhook stores a redelivered event id once", async () => {
  await using t = await testApp();
  const raw = await readTestdata("transaction_created.raw.json");
  const first = await t.app.request("/webhook", await signedPost(raw));
  const again = await t.app.request("/webhook", await signedPost(raw));
  assert.equal(first.status, 200);
  assert.equal(again.status, 200);
  assert.equal((await json(again)).status, "duplicate");
  assert.equal(t.store.counts().total, 1);
  assert.equal(t.metrics.duplicates.value(), 1);
});

Deno.test("POST /webhook accepts every event type, and types Up has not invented yet", async () => {
  await using t = await testApp();
  const bodies = [
    await readTestdata("ping.raw.json"),
    await readTestdata("deleted.raw.json"),
    eventBody({ id: "e-settled", type: "TRANSACTION_SETTLED", transactionId: "t1" }),
    eventBody({ id: "e-created", type: "TRANSACTION_CREATED", transactionId: "t1" }),
    eventBody({ id: "e-future", type: "SOMETHING_NEW" }),
  ];
  for (const body of bodies) {
    const response = await t.app.request("/webhook", await signedPost(body));
    assert.equal(response.status, 200, await response.clone().text());
  }
  assert.equal(t.store.counts().total, 5);
  assert.equal(t.store.get("e-future")?.type, "SOMETHING_NEW");
});

Deno.test("POST /webhook keeps an authentic body that is not an event as a dead letter", async (t) => {
  await using app = await testApp();
  for (const body of ["this is not json", '{"data":{"type":"webhook-events"}}']) {
    await t.step(body, async () => {
      const response = await app.app.request("/webhook", await signedPost(body));
      assert.equal(response.status, 200);
      const answer = await json(response);
      assert.match(String(answer.eventId), /^sha256:[0-9a-f]{64}$/);
      assert.match(String(answer.deadLetter), /Cannot read webhook event/);
      const stored = app.store.get(String(answer.eventId));
      assert.equal(stored?.type, undefined);
      assert.equal(new TextDecoder().decode(stored?.body), body);
    });
  }
  assert.equal(app.metrics.deadLetters.value(), 2);
});

Deno.test("POST /webhook refuses bad signatures with 401 JSON and stores nothing", async (t) => {
  await using app = await testApp();
  const raw = await readTestdata("transaction_created.raw.json");
  const forged = await signBody(raw, "not-the-secret");
  const cases: Array<[string, Record<string, string>, string | Uint8Array<ArrayBuffer>]> = [
    ["missing", {}, raw],
    ["malformed", { [SIGNATURE_HEADER]: "sha256=abc" }, raw],
    ["mismatch", { [SIGNATURE_HEADER]: forged }, raw],
    ["mismatch", { [SIGNATURE_HEADER]: await signBody(raw, SECRET) }, "not json, and not signed"],
  ];
  for (const [reason, headers, body] of cases) {
    await t.step(`${reason}: ${Object.values(headers)[0] ?? "no header"}`, async () => {
      const response = await app.app.request("/webhook", { method: "POST", headers, body });
      assert.equal(response.status, 401);
      const answer = await json(response) as { error: { code: string; message: string } };
      assert.equal(answer.error.code, `signature_${reason}`);
      assert.match(answer.error.message, /^Cannot verify webhook: /);
    });
  }
  assert.equal(app.store.counts().total, 0);
  assert.equal(app.metrics.rejected.value({ reason: "mismatch" }), 2);
  assert.equal(app.metrics.rejected.value({ reason: "missing" }), 1);
});

Deno.test("POST /webhook accepts either secret during a rotation", async () => {
  await using t = await testApp({ secrets: ["old-secret", "new-secret"] });
  for (const [index, secret] of ["old-secret", "new-secret"].entries()) {
    const body = eventBody({ id: `rot-${index}`, type: "PING" });
    assert.equal((await t.app.request("/webhook", await signedPost(body, secret))).status, 200);
  }
  assert.equal(t.store.counts().total, 2);
});

Deno.test("POST /webhook accepts a webhook registered a moment ago, without a restart", async () => {
  await using t = await testApp();
  const body = eventBody({ id: "just-registered", type: "PING" });
  const before = await t.app.request("/webhook", await signedPost(body, "brand-new-secret"));
  assert.equal(before.status, 401);
  await writeWebhookState(t.dir, {
    version: 1,
    webhooks: [{
      id: "w-new",
      url: "https://example.test/webhook",
      description: "upbus",
      secretKey: "brand-new-secret",
      createdAt: "2024-08-06T12:19:06+10:00",
    }],
  });
  const after = await t.app.request("/webhook", await signedPost(body, "brand-new-secret"));
  assert.equal(after.status, 200, "a mismatch makes the ring look at the state file at once");
  assert.equal(t.store.counts().total, 1);
});

Deno.test("POST /webhook answers 413 past the body cap and stops reading", async (t) => {
  await using app = await testApp({ maxBodyBytes: 2048 });
  await t.step("declared by Content-Length", async () => {
    const body = "x".repeat(4096);
    const response = await app.app.request("/webhook", await signedPost(body));
    assert.equal(response.status, 413);
    assert.equal(
      (await json(response) as { error: { code: string } }).error.code,
      "body_too_large",
    );
  });
  await t.step("streamed without a length", async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const request = new Request("http://upbus.test/webhook", {
      method: "POST",
      headers: { [SIGNATURE_HEADER]: "0".repeat(64) },
      body: endless,
    });
    const response = await app.app.request(request);
    assert.equal(response.status, 413);
    await response.body?.cancel();
    assert.ok(pulled <= 4, `read ${pulled} chunks of 1 KiB for a 2 KiB cap`);
  });
  assert.equal(app.store.counts().total, 0);
  assert.equal(app.metrics.rejected.value({ reason: "too_large" }), 2);
});

Deno.test("/webhook refuses other methods with 405 and an Allow header", async () => {
  await using t = await testApp();
  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    const response = await t.app.request("/webhook", { method });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "POST");
    assert.equal(
      (await json(response) as { error: { code: string } }).error.code,
      "method_not_allowed",
    );
  }
  assert.equal(t.store.counts().total, 0);
});

Deno.test("an unknown route is a 404 JSON error", async () => {
  await using t = await testApp();
  const response = await t.app.request("/nope");
  assert.equal(response.status, 404);
  assert.equal((await json(response) as { error: { code: string } }).error.code, "not_found");
});

Deno.test("POST /webhook answers 503 when the store cannot commit, so Up retries", async () => {
  await using t = await testApp();
  await t.store.close();
  const body = eventBody({ id: "after-close", type: "PING" });
  const response = await t.app.request("/webhook", await signedPost(body));
  assert.equal(response.status, 503);
  assert.equal(
    (await json(response) as { error: { code: string } }).error.code,
    "store_unavailable",
  );
});

Deno.test("GET /healthz, /readyz and /metrics report the service", async () => {
  await using t = await testApp();
  const health = await t.app.request("/healthz");
  assert.equal(health.status, 200);
  assert.deepEqual(await json(health), { status: "ok" });
  const ready = await t.app.request("/readyz");
  assert.equal(ready.status, 200);
  const readiness = await json(ready) as { checks: Record<string, string> };
  assert.equal(readiness.checks.store, "ok");
  assert.match(readiness.checks.kafka, /embedded mode/);

  await t.app.request("/webhook", await signedPost(eventBody({ id: "m1", type: "PING" })));
  await t.app.request("/webhook", { method: "POST", body: "{}" });
  const metrics = await t.app.request("/metrics");
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  assert.match(text, /^upbus_webhooks_received_total 2$/m);
  assert.match(text, /^upbus_events_stored_total 1$/m);
  assert.match(text, /^upbus_webhooks_rejected_total\{reason="missing"\} 1$/m);
  assert.match(text, /^upbus_webhook_request_duration_seconds_count 2$/m);
});

Deno.test("GET /readyz is 503 when the store cannot commit", async () => {
  await using t = await testApp();
  await t.store.close();
  const response = await t.app.request("/readyz");
  assert.equal(response.status, 503);
  assert.equal((await json(response)).status, "not ready");
});

Deno.test("no log line carries a secret or a signature", async () => {
  await using t = await testApp();
  const raw = await readTestdata("transaction_created.raw.json");
  const signature = await signBody(raw, SECRET);
  await t.app.request("/webhook", await signedPost(raw));
  await t.app.request("/webhook", {
    method: "POST",
    headers: { [SIGNATURE_HEADER]: signature },
    body: "{}",
  });
  await t.app.request("/webhook", await signedPost("not an event"));
  assert.ok(t.logs.length >= 3);
  for (const line of t.logs) {
    assert.ok(!line.includes(SECRET), line);
    assert.ok(!line.includes(signature), line);
    JSON.parse(line);
  }
});

Deno.test("GET /readyz is 503 once the only registered webhook's secret is gone from the state file", async () => {
  await using t = await testApp({ secrets: [] });
  const state = (webhooks: WebhookStateEntry[]) =>
    writeWebhookState(t.dir, { version: 1, webhooks });
  const recheck = () => new Promise((resolve) => setTimeout(resolve, 1100));
  await state([{
    id: "wh-1",
    url: "https://example.test/webhook",
    description: "upbus",
    secretKey: SECRET,
    createdAt: "2026-12-01T10:00:00+11:00",
  }]);
  await recheck();
  const registered = await t.app.request("/readyz");
  assert.equal(registered.status, 200);
  assert.equal((await registered.json()).checks.secrets, "ok");
  await state([]);
  await recheck();
  const deleted = await t.app.request("/readyz");
  assert.equal(deleted.status, 503);
  assert.equal((await deleted.json()).checks.secrets, "no webhook secret configured");
});

import assert from "node:assert/strict";
import { InvalidEventError, parseEvent } from "../../lib/webhook/event.ts";
import { cloudEventType, eventRecord } from "../../lib/bus/record.ts";

const encoder = new TextEncoder();
const read = (file: string) => Deno.readFile(new URL(`../testdata/${file}`, import.meta.url));

Deno.test("parseEvent() reads the spec's TRANSACTION_CREATED wire body", async () => {
  assert.deepEqual(parseEvent(await read("transaction_created.raw.json")), {
    id: "011308c1-861c-4d04-ba85-f867eadf202d",
    type: "TRANSACTION_CREATED",
    createdAt: "2024-08-05T12:20:07+10:00",
    webhookId: "cce901e8-e10b-4d4d-a615-f1902e4736d4",
    transactionId: "169c1684-45c7-41c1-95fa-97082b319e6c",
  });
});

Deno.test("parseEvent() accepts PING and TRANSACTION_DELETED, which have no transaction link", async () => {
  const ping = parseEvent(await read("ping.raw.json"));
  assert.equal(ping.type, "PING");
  assert.equal(ping.transactionId, undefined);
  const deleted = parseEvent(await read("deleted.raw.json"));
  assert.equal(deleted.type, "TRANSACTION_DELETED");
  assert.equal(deleted.transactionId, undefined);
});

Deno.test("parseEvent() accepts an event type Up adds later", () => {
  const body = '{"data":{"type":"webhook-events","id":"e9","attributes":{"eventType":' +
    '"CARD_FROZEN","createdAt":"2025-01-01T00:00:00+10:00"},"relationships":{"webhook":' +
    '{"data":{"type":"webhooks","id":"w9"}}}}}';
  assert.equal(parseEvent(encoder.encode(body)).type, "CARD_FROZEN");
});

Deno.test("parseEvent() explains why a body is not an event", async (t) => {
  const cases: Array<[string, RegExp]> = [
    ["not json", /not UTF-8 JSON/],
    ["[]", /"data.type" is missing/],
    ['{"data":{"type":"transactions","id":"x"}}', /"data.type" is "transactions"/],
    ['{"data":{"type":"webhook-events","attributes":{}}}', /"data.id" is missing/],
    [
      '{"data":{"type":"webhook-events","id":"x","attributes":{"eventType":7}}}',
      /eventType" is not/,
    ],
    ...["2024-08-05T12:20:07", "2024-08-05 12:20:07+10:00", "2024-02-30T12:20:07Z", "yesterday"]
      .map((createdAt): [string, RegExp] => [
        `{"data":{"type":"webhook-events","id":"x","attributes":{"eventType":"PING","createdAt":"${createdAt}"}}}`,
        /"data.attributes.createdAt" is ".*", not an RFC 3339 date-time with a UTC offset/,
      ]),
  ];
  for (const [body, message] of cases) {
    await t.step(body, () => {
      assert.throws(() => parseEvent(encoder.encode(body)), (error: unknown) => {
        assert.ok(error instanceof InvalidEventError);
        assert.match(error.message, message);
        return true;
      });
    });
  }
  await t.step("invalid UTF-8", () => {
    assert.throws(() => parseEvent(new Uint8Array([0x7b, 0xff, 0x7d])), InvalidEventError);
  });
});

Deno.test("eventRecord() keys by transaction and carries CloudEvents headers and the signature", async () => {
  const body = await read("transaction_created.raw.json");
  const record = eventRecord({
    seq: 1,
    eventId: "011308c1-861c-4d04-ba85-f867eadf202d",
    type: "TRANSACTION_CREATED",
    webhookId: "cce901e8-e10b-4d4d-a615-f1902e4736d4",
    transactionId: "169c1684-45c7-41c1-95fa-97082b319e6c",
    createdAt: "2024-08-05T12:20:07+10:00",
    body,
    signature: "ab".repeat(32),
    receivedAt: "2024-08-05T02:20:08.000Z",
  });
  assert.equal(record.key, "169c1684-45c7-41c1-95fa-97082b319e6c");
  assert.equal(record.value, body);
  assert.equal(record.headers.ce_specversion, "1.0");
  assert.equal(record.headers.ce_id, "011308c1-861c-4d04-ba85-f867eadf202d");
  assert.equal(record.headers.ce_type, "au.com.up.webhook.transaction.created");
  assert.equal(
    record.headers.ce_source,
    "https://api.up.com.au/api/v1/webhooks/cce901e8-e10b-4d4d-a615-f1902e4736d4",
  );
  assert.equal(record.headers.ce_time, "2024-08-05T12:20:07+10:00");
  assert.equal(record.headers["content-type"], "application/json");
  assert.equal(record.headers.up_signature, "ab".repeat(32));
  assert.equal(cloudEventType("PING"), "au.com.up.webhook.ping");
});

/**
 * Every record that claims CloudEvents 1.0 is a valid CloudEvent whatever Up's body held, as
 * parsers the project did not write read it: records fetched from Kafka by kcat (librdkafka)
 * and by kafkajs, parsed by the official CloudEvents SDK (npm `cloudevents`, strict), with
 * `time` checked by ajv-formats' RFC 3339 `date-time`. A webhook id with a space or a non-ASCII
 * character is percent-encoded into `ce_source`; a body whose `createdAt` has no UTC offset
 * (Up's spec says RFC 3339) is a dead letter, not a CloudEvent with a wrong time.
 *
 * Permissions: as the test task (loopback to the shared test broker, `--allow-run=kcat`).
 */
import assert from "node:assert/strict";
import { fullFormats } from "ajv-formats/dist/formats.js";
import { CloudEvent, Kafka } from "cloudevents";
import { eventRecord } from "../../lib/bus/record.ts";
import { startRelayThread } from "../../lib/relay/relay_thread.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { eventBody, signedPost, testApp } from "../support/app.ts";
import { consumeWithKafkajs, consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";

const quiet = createLogger({ write: () => {} });
const dateTime = (fullFormats["date-time"] as { validate: (value: string) => boolean }).validate;

/** Parses a binary-mode record with the SDK and checks it strictly; returns the event. */
function parseCloudEvent(
  record: { key: string | null; value: string; headers: Record<string, string> },
): CloudEvent<unknown> {
  const event = Kafka.toEvent({
    key: record.key ?? undefined,
    value: record.value,
    body: record.value,
    headers: record.headers,
    timestamp: undefined,
  } as never) as CloudEvent<unknown>;
  assert.ok(event.validate(), "the SDK's own validation");
  // The SDK rewrites `time` through Date before validating: check the header as it was sent.
  const h = record.headers;
  new CloudEvent({
    specversion: h.ce_specversion as "1.0",
    id: h.ce_id,
    type: h.ce_type,
    source: h.ce_source,
    ...(h.ce_time === undefined ? {} : { time: h.ce_time }),
    ...(h.ce_subject === undefined ? {} : { subject: h.ce_subject }),
    datacontenttype: h["content-type"],
    data: JSON.parse(record.value),
  }, true);
  if (h.ce_time !== undefined) {
    assert.ok(dateTime(h.ce_time), `ce_time "${h.ce_time}" is an RFC 3339 date-time`);
  }
  return event;
}

function withCreatedAt(body: string, createdAt: string): string {
  const document = JSON.parse(body);
  document.data.attributes.createdAt = createdAt;
  return JSON.stringify(document);
}

Deno.test("every record with ce_ headers is a valid CloudEvent to kcat, kafkajs and the CloudEvents SDK", async () => {
  const brokers = await testBrokers();
  const topic = `upbus-test-${crypto.randomUUID()}`;
  await using t = await testApp();
  const bodies = {
    plain: eventBody({ id: "ce-plain", type: "TRANSACTION_CREATED", transactionId: "tx-plain" }),
    spaced: eventBody({ id: "ce-spaced", type: "PING", webhookId: "my hook é/ü?#" }),
    noOffset: withCreatedAt(
      eventBody({ id: "ce-no-offset", type: "TRANSACTION_SETTLED", transactionId: "tx-2" }),
      "2024-08-05T12:20:07",
    ),
  };
  for (const body of Object.values(bodies)) {
    assert.equal((await t.app.request("/webhook", await signedPost(body))).status, 200);
  }
  const relay = startRelayThread(t.store, {
    brokers: [brokers],
    clientId: "upbus-test",
    topic,
    logLevel: "error",
    logger: quiet,
    metrics: createMetrics(),
  });
  try {
    await relay.drained(60_000);
  } finally {
    await relay.stop();
  }

  const viaKcat = await consumeWithKcat(brokers, topic);
  const viaKafkajs = await consumeWithKafkajs(brokers, topic, { count: viaKcat.length });
  assert.equal(viaKcat.length, 2, "the body without an offset is not on the events topic");
  const decoder = new TextDecoder();
  const parsed = [
    ...viaKcat.map((record) =>
      parseCloudEvent({ key: record.key, value: record.payload!, headers: kcatHeaders(record) })
    ),
    ...viaKafkajs.map((record) =>
      parseCloudEvent({
        key: record.key,
        value: decoder.decode(record.value!),
        headers: record.headers,
      })
    ),
  ];
  assert.equal(parsed.length, 4);
  const spaced = parsed.find((event) => event.id === "ce-spaced");
  assert.equal(
    spaced?.source,
    `https://api.up.com.au/api/v1/webhooks/${encodeURIComponent("my hook é/ü?#")}`,
  );
  assert.equal(
    decodeURIComponent(spaced!.source.split("/").at(-1)!),
    "my hook é/ü?#",
    "the webhook id reads back exactly",
  );
  const plain = parsed.find((event) => event.id === "ce-plain");
  assert.equal(plain?.time, new Date("2024-08-05T12:20:07+10:00").toISOString());

  const dead = await consumeWithKcat(brokers, `${topic}.dlq`);
  assert.equal(dead.length, 1);
  assert.equal(dead[0].payload, bodies.noOffset, "kept byte for byte");
  const deadHeaders = kcatHeaders(dead[0]);
  assert.equal(deadHeaders.ce_specversion, undefined, "a dead letter claims no CloudEvent");
  assert.match(deadHeaders.upbus_dead_letter_reason, /createdAt.*not an RFC 3339 date-time/);
});

Deno.test("eventRecord() leaves out ce_time for a stored time that is not RFC 3339", () => {
  // An event stored before intake refused such bodies: its record is still a valid CloudEvent.
  const record = eventRecord({
    seq: 1,
    eventId: "old",
    type: "PING",
    createdAt: "2024-08-05T12:20:07",
    webhookId: "w 1",
    body: new TextEncoder().encode("{}"),
    signature: "s",
    receivedAt: "2024-08-05T02:20:08.000Z",
  } as never);
  assert.equal(record.headers.ce_time, undefined);
  assert.equal(record.headers.ce_source, "https://api.up.com.au/api/v1/webhooks/w%201");
  parseCloudEvent({ key: record.key, value: "{}", headers: record.headers });
});

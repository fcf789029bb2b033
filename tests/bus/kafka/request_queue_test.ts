/**
 * lib/bus/kafka/request_queue_fix.ts: with it loaded, an idle kafkajs connection is not woken once a
 * millisecond any more, and a throttled queue or a waiting request is still checked again.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
// @ts-types="../../../lib/bus/kafka/request_queue.d.ts"
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import { REQUEST_QUEUE_FIXED } from "../../../lib/bus/kafka/request_queue_fix.ts";
import { testBrokers } from "../../support/kafka.ts";

interface Queue {
  throttledUntil: number;
  throttleCheckTimeoutId: unknown;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
  destroy(): void;
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function queue(): Queue {
  return new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: "test",
    broker: "127.0.0.1:1",
    logger: silent,
  }) as unknown as Queue;
}

Deno.test("an idle kafkajs request queue arms no timer after a check", () => {
  assert.equal(REQUEST_QUEUE_FIXED, true);
  const idle = queue();
  idle.checkPendingRequests();
  assert.equal(idle.throttleCheckTimeoutId, null);
});

Deno.test("a throttled queue, or one with a waiting request, is still checked again", () => {
  const throttled = queue();
  throttled.throttledUntil = Date.now() + 60_000;
  throttled.scheduleCheckPendingRequests();
  assert.notEqual(throttled.throttleCheckTimeoutId, null);
  throttled.destroy();

  const waiting = queue();
  waiting.pending.push({});
  waiting.scheduleCheckPendingRequests();
  assert.notEqual(waiting.throttleCheckTimeoutId, null);
  waiting.destroy();
});

Deno.test("a connected, idle kafkajs producer checks its queues only when answers come", async () => {
  const prototype = RequestQueue.prototype as unknown as Queue;
  const original = prototype.checkPendingRequests;
  let checks = 0;
  prototype.checkPendingRequests = function (this: Queue) {
    checks++;
    return original.call(this);
  };
  const kafka = new Kafka({ brokers: [await testBrokers()], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  try {
    await producer.connect();
    await new Promise((resolve) => setTimeout(resolve, 200));
    checks = 0;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Unfixed, each connection checks about once a millisecond: hundreds in this second.
    assert.ok(checks < 20, `${checks} checks in one idle second`);
  } finally {
    await producer.disconnect();
    prototype.checkPendingRequests = original;
  }
});

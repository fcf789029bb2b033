import assert from "node:assert/strict";
import { describeRelay, initialRelayStatus, type RelayStatus } from "../../lib/relay/relay.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");
const options = { backlog: 0, now: T0 + 60_000, stallMs: 30_000 };

Deno.test("describeRelay() is not ready while the relay has not reached Kafka yet", () => {
  assert.deepEqual(describeRelay(initialRelayStatus(T0), options), {
    ready: false,
    text: "connecting since 2026-12-01T10:00:00.000Z",
  });
});

Deno.test("describeRelay() names the cause and the time since Kafka became unreachable", () => {
  const status: RelayStatus = {
    state: "unreachable",
    connected: false,
    since: T0,
    lastError: "Connection error: connect ECONNREFUSED 127.0.0.1:9092",
    progressAt: T0,
  };
  assert.deepEqual(describeRelay(status, options), {
    ready: false,
    text:
      "unreachable since 2026-12-01T10:00:00.000Z: Connection error: connect ECONNREFUSED 127.0.0.1:9092",
  });
});

Deno.test("describeRelay() calls a connected relay stalled when a backlog waits past the threshold", async (t) => {
  const connected: RelayStatus = {
    state: "connected",
    connected: true,
    since: T0,
    progressAt: T0 + 20_000,
  };
  await t.step("no backlog: ready however long ago the last publish was", () => {
    assert.deepEqual(describeRelay(connected, { ...options, now: T0 + 3_600_000 }), {
      ready: true,
      text: "ok",
    });
  });
  await t.step("a backlog within the threshold: ready", () => {
    assert.deepEqual(describeRelay(connected, { ...options, backlog: 5, now: T0 + 50_000 }), {
      ready: true,
      text: "ok",
    });
  });
  await t.step("a backlog past the threshold: stalled, with how long and how many", () => {
    assert.deepEqual(describeRelay(connected, { ...options, backlog: 120, now: T0 + 62_000 }), {
      ready: false,
      text: "stalled: nothing published for 42 s with 120 events waiting",
    });
  });
});

/**
 * Hand-offs without polling in one process (`upbus run`): a record appended to the local log, or
 * an event committed to the store by its writer worker, reaches a source of this process that
 * waits at its end well before its fallback timer; a source with no signal (another process's
 * writes) still delivers on its fallback timer; and an idle source is not woken by its lease.
 * Between processes (serve, enrich and each consumer run apart): a commit by another process is
 * seen by the source's check of SQLite's change counter (`data_version`), well before its
 * fallback timer, on the local log and on events.db.
 *
 * Permissions: `--allow-read`/`--allow-write` (/tmp), `--allow-run=deno` (the other process).
 */
import assert from "node:assert/strict";
import type { ConsumerMessage } from "../../../lib/bus/consumer.ts";
import { openLocalLog } from "../../../lib/bus/local/local_log.ts";
import { localLogRecordSource, localTopicReader } from "../../../lib/bus/local/local_log_source.ts";
import { startConsumer } from "../../../lib/bus/runner.ts";
import { eventStoreSource } from "../../../lib/bus/local/event_source.ts";
import { openEventStore } from "../../../lib/store/event_store.ts";
import { waitFor } from "../../support/pipeline.ts";

const TOPIC = "up.transactions";
/** The fallback timer in these tests: far longer than the one second a wake-up may take. */
const FALLBACK_MS = 5000;

/** A consumer from the beginning that notes when each record arrived. */
function arrivals(seen: Map<string, number>) {
  return {
    name: "wake-test",
    topic: TOPIC,
    fromBeginning: true,
    handle: (message: ConsumerMessage) => void seen.set(message.key ?? "", Date.now()),
  };
}

/** Runs `code` in another Deno process (its own SQLite connections, no in-process signal). */
async function inAnotherProcess(code: string): Promise<void> {
  const output = await new Deno.Command("deno", {
    args: ["eval", "--quiet", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

const LOCAL_LOG_MODULE = new URL("../../../lib/bus/local/local_log.ts", import.meta.url).href;
const EVENT_STORE_MODULE = new URL("../../../lib/store/event_store.ts", import.meta.url).href;

/** Lets the source read to its end and start waiting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

Deno.test("local log: an append in the same process wakes a waiting source before its fallback timer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-wake-" });
  const log = await openLocalLog(dir);
  const seen = new Map<string, number>();
  const consumer = await startConsumer(arrivals(seen), {
    source: localLogRecordSource(log, { pollMs: FALLBACK_MS }),
  });
  try {
    for (const key of ["tx-1", "tx-2", "tx-3"]) {
      await settle();
      const appended = Date.now();
      log.append(TOPIC, [{ key, value: "{}" }]);
      await waitFor(() => seen.has(key), key, 1000);
      assert.ok(seen.get(key)! - appended < 1000, `${key} waited for the fallback timer`);
    }
  } finally {
    await consumer.stop();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local log: a source with no signal to wait for still delivers on its fallback timer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-wake-" });
  const log = await openLocalLog(dir);
  const seen = new Map<string, number>();
  // A reader without a file to watch: the append's wake-up never reaches it.
  const { path: _path, ...unwatched } = localTopicReader(log, TOPIC);
  const consumer = await startConsumer(arrivals(seen), {
    source: localLogRecordSource(log, { reader: unwatched, pollMs: 2000 }),
  });
  try {
    await settle();
    const appended = Date.now();
    log.append(TOPIC, [{ key: "missed", value: "{}" }]);
    await settle();
    assert.ok(
      !seen.has("missed"),
      "the record came before the fallback timer: not a missed signal",
    );
    await waitFor(() => seen.has("missed"), "the record after the fallback timer", 4000);
    assert.ok(seen.get("missed")! - appended < 3000);
  } finally {
    await consumer.stop();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("event store: a commit (by the store's writer worker) wakes a source on events.db in the same process before its fallback timer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-wake-" });
  const log = await openLocalLog(dir);
  const store = await openEventStore({ path: `${dir}/events.db` });
  const seen = new Map<string, number>();
  const consumer = await startConsumer(
    { ...arrivals(seen), topic: "events.db" },
    {
      source: localLogRecordSource(log, {
        reader: eventStoreSource(`${dir}/events.db`),
        pollMs: FALLBACK_MS,
      }),
    },
  );
  try {
    for (const id of ["ev-1", "ev-2"]) {
      await settle();
      const appended = Date.now();
      await store.append({
        eventId: id,
        type: "TRANSACTION_CREATED",
        transactionId: `tx-${id}`,
        body: new TextEncoder().encode(`{"data":{"id":"${id}"}}`),
        signature: "0".repeat(64),
        receivedAt: new Date().toISOString(),
      });
      await waitFor(() => [...seen.values()].length >= Number(id.slice(3)), id, 1500);
      assert.ok(Date.now() - appended < 1000, `${id} waited for the fallback timer`);
    }
  } finally {
    await consumer.stop();
    await store.close();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local log: an idle source is not woken by its own lease renewals or cursor commits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-wake-" });
  const log = await openLocalLog(dir);
  const reads: number[] = [];
  const reader = localTopicReader(log, TOPIC);
  const counted = {
    ...reader,
    read: (from: number, limit: number) => {
      reads.push(Date.now());
      return reader.read(from, limit);
    },
  };
  const seen = new Map<string, number>();
  // Renewed every 100 ms: each renewal writes pipeline.db's WAL.
  const consumer = await startConsumer(arrivals(seen), {
    source: localLogRecordSource(log, { reader: counted, pollMs: FALLBACK_MS, leaseMs: 300 }),
  });
  try {
    await settle();
    const before = reads.length;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.ok(reads.length - before <= 1, `${reads.length - before} reads in 2 s idle`);
  } finally {
    await consumer.stop();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local log: an append by another process wakes a waiting source before its fallback timer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-wake-" });
  const log = await openLocalLog(dir);
  const seen = new Map<string, number>();
  const consumer = await startConsumer(arrivals(seen), {
    source: localLogRecordSource(log, { pollMs: FALLBACK_MS }),
  });
  try {
    for (const key of ["tx-1", "tx-2"]) {
      await settle();
      await inAnotherProcess(`
        import { openLocalLog } from "${LOCAL_LOG_MODULE}";
        const log = await openLocalLog(${JSON.stringify(dir)});
        log.append("${TOPIC}", [{ key: "${key}", value: "{}" }]);
        log.close();
      `);
      const appended = Date.now();
      await waitFor(() => seen.has(key), key, 1500);
      assert.ok(seen.get(key)! - appended < 1000, `${key} waited for the fallback timer`);
    }
  } finally {
    await consumer.stop();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("event store: a commit by another process (the service) wakes a source on events.db before its fallback timer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-wake-" });
  const log = await openLocalLog(dir);
  const seen = new Map<string, number>();
  const consumer = await startConsumer(
    { ...arrivals(seen), topic: "events.db" },
    {
      source: localLogRecordSource(log, {
        reader: eventStoreSource(`${dir}/events.db`),
        pollMs: FALLBACK_MS,
      }),
    },
  );
  try {
    // The first commit creates the file the source waited for; the second lands in it.
    for (const id of ["ev-1", "ev-2"]) {
      await settle();
      await inAnotherProcess(`
        import { openEventStore } from "${EVENT_STORE_MODULE}";
        const store = await openEventStore({ path: ${JSON.stringify(`${dir}/events.db`)} });
        await store.append({
          eventId: "${id}",
          type: "TRANSACTION_CREATED",
          transactionId: "tx-${id}",
          body: new TextEncoder().encode('{"data":{"id":"${id}"}}'),
          signature: "0".repeat(64),
          receivedAt: new Date().toISOString(),
        });
        await store.close();
      `);
      const appended = Date.now();
      await waitFor(() => seen.has(`tx-${id}`), id, 1500);
      assert.ok(seen.get(`tx-${id}`)! - appended < 1000, `${id} waited for the fallback timer`);
    }
  } finally {
    await consumer.stop();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

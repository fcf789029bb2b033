/**
 * SIGTERM under load, as systemd stops the service: the real service in its own process (with the
 * binary's permissions), real HTTP from concurrent clients, SIGTERM while they send. Every event
 * answered 200 must be in the SQLite file afterwards (and, with Kafka, published: the relay
 * flushed before it disconnected), and the process must exit 0 within a few seconds.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { selectPublishState } from "../../lib/store/queries.ts";
import { SIGNATURE_HEADER, signBody } from "../../lib/webhook/signature.ts";
import { eventBody } from "../support/app.ts";
import { consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { serviceDataDir, startServiceProcess } from "../support/service_process.ts";
import { sourceProgram, startServe } from "../support/upbus_program.ts";

const SECRET = "sigterm-test-secret";
const CLIENTS = 16;
/** Upper bound of requests per run, so the loop ends by itself whatever happens. */
const MAX_REQUESTS = 20_000;
/** systemd's stop timeout in deploy/upbus.service is 30 s; we expect far less. */
const EXIT_WITHIN_MS = 5_000;

interface Outcome {
  id: string;
  startedAt: number;
  endedAt: number;
  status?: number;
  error?: string;
}

/** Concurrent clients POSTing signed events until `stop()`; returns every outcome. */
function load(url: string) {
  const outcomes: Outcome[] = [];
  let stopping = false;
  let sent = 0;
  let firstOk: () => void;
  const someOk = new Promise<void>((resolve) => firstOk = resolve);
  async function client(): Promise<void> {
    while (!stopping && sent < MAX_REQUESTS) {
      sent++;
      const id = crypto.randomUUID();
      const body = eventBody({ id, type: "TRANSACTION_CREATED", transactionId: id });
      const signature = await signBody(body, SECRET);
      const outcome: Outcome = { id, startedAt: performance.now(), endedAt: 0 };
      try {
        const response = await fetch(`${url}/webhook`, {
          method: "POST",
          headers: { "Content-Type": "application/json", [SIGNATURE_HEADER]: signature },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        await response.body?.cancel();
        outcome.status = response.status;
        if (response.status === 200 && outcomes.length > 200) firstOk();
      } catch (error) {
        outcome.error = (error as Error).message;
        // Refused or reset: the server has stopped accepting. Back off a little so the loop
        // does not spin on connection errors.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      outcome.endedAt = performance.now();
      outcomes.push(outcome);
    }
  }
  const clients = Promise.all(Array.from({ length: CLIENTS }, client));
  return {
    someOk,
    async stop(): Promise<Outcome[]> {
      stopping = true;
      await clients;
      return outcomes;
    },
  };
}

function storedRows(dataDir: string): Map<string, boolean> {
  const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
  try {
    return selectPublishState(db);
  } finally {
    db.close();
  }
}

async function sigtermUnderLoad(env: Record<string, string>) {
  const dataDir = await serviceDataDir();
  const [serve, url] = await startServe(sourceProgram(), {
    UP_WEBHOOK_SECRETS: SECRET,
    DATA_DIR: dataDir,
    ...env,
  });
  const traffic = load(url);
  let signalledAt = 0;
  let exit: { code: number; ms: number };
  try {
    await traffic.someOk;
    signalledAt = performance.now();
    exit = await serve.stop("SIGTERM");
  } finally {
    await serve.stop("SIGKILL");
  }
  const outcomes = await traffic.stop();
  const ok = outcomes.filter((outcome) => outcome.status === 200);
  const other = outcomes.filter((outcome) =>
    outcome.status !== undefined && outcome.status !== 200
  );
  const inFlight = ok.filter((outcome) =>
    outcome.startedAt < signalledAt && outcome.endedAt > signalledAt
  );
  const stored = storedRows(dataDir);
  // A request that failed but whose event is stored would be a response cut off mid-way.
  const cut = outcomes.filter((outcome) => outcome.error !== undefined && stored.has(outcome.id));
  return { dataDir, serve, exit, outcomes, ok, other, inFlight, cut, stored };
}

/** Exit 0 in time, no answer but 200, nothing cut off, every 200 in the store. */
function assertCleanStop(run: Awaited<ReturnType<typeof sigtermUnderLoad>>): void {
  assert.equal(run.exit.code, 0, run.serve.err.join("\n"));
  assert.ok(run.exit.ms < EXIT_WITHIN_MS, `exit took ${run.exit.ms} ms`);
  assert.deepEqual(run.other, [], "no answer but 200 (refused connections are fine)");
  assert.deepEqual(run.cut, [], "no request was cut off after its event was stored");
  const lost = run.ok.filter((outcome) => !run.stored.has(outcome.id));
  assert.deepEqual(lost, [], "every event answered 200 is in the store");
}

Deno.test("SIGTERM under load: every event answered 200 is stored, and the process exits 0", async (t) => {
  await t.step("embedded mode (no Kafka)", async () => {
    const run = await sigtermUnderLoad({});
    try {
      console.log(
        `  ${run.ok.length} answered 200, ${run.inFlight.length} of them in flight at SIGTERM; exit ${run.exit.code} after ${
          Math.round(run.exit.ms)
        } ms`,
      );
      assertCleanStop(run);
      assert.ok(run.serve.logs.some((log) => log.msg === "stopped"), run.serve.err.join("\n"));
    } finally {
      await Deno.remove(run.dataDir, { recursive: true });
    }
  });

  await t.step(
    "with Kafka: the relay flushes every stored event before it disconnects",
    async () => {
      const brokers = await testBrokers();
      const topic = `upbus-sigterm-${crypto.randomUUID()}`;
      const run = await sigtermUnderLoad({
        KAFKA_BROKERS: brokers,
        KAFKA_TOPIC: topic,
        KAFKA_TOPIC_PARTITIONS: "1",
      });
      try {
        const stopped = run.serve.logs.find((log) => log.msg === "stopped");
        console.log(
          `  ${run.ok.length} answered 200, ${run.inFlight.length} of them in flight at SIGTERM; exit ${run.exit.code} after ${
            Math.round(run.exit.ms)
          } ms; unpublished at exit: ${stopped?.unpublished}`,
        );
        assertCleanStop(run);
        const unpublished = [...run.stored].filter(([, published]) => !published);
        assert.deepEqual(unpublished, [], "the relay published every stored event before exit");
        assert.equal(stopped?.unpublished, 0, JSON.stringify(stopped));
        const inKafka = new Set(
          (await consumeWithKcat(brokers, topic)).map((record) => kcatHeaders(record).ce_id),
        );
        const missing = run.ok.filter((outcome) => !inKafka.has(outcome.id));
        assert.deepEqual(missing, [], "every event answered 200 is in Kafka");
      } finally {
        await Deno.remove(run.dataDir, { recursive: true });
      }
    },
  );
});

Deno.test("SIGTERM with a client holding a request open: the process still exits 0", async () => {
  const dataDir = await serviceDataDir();
  const service = await startServiceProcess({ UP_WEBHOOK_SECRETS: SECRET, DATA_DIR: dataDir });
  const { hostname, port } = new URL(service.url);
  const stalled = await Deno.connect({ hostname, port: Number(port) });
  try {
    // Headers promise 1000 bytes; 10 arrive, then nothing.
    await stalled.write(new TextEncoder().encode(
      "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
    ));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    assert.equal(await service.stop(), 0);
    const took = Date.now() - started;
    assert.ok(took < 10_000 + 5_000, `exit took ${took} ms`);
  } finally {
    stalled.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { backfill } from "../../lib/enrich/backfill.ts";
import { openLocalLog } from "../../lib/bus/local/local_log.ts";
import { localLogTransactionSink } from "../../lib/bus/local/local_log_sink.ts";
import { kafkaTransactionSink } from "../../lib/bus/kafka/transaction_sink.ts";
import { transactionRecord } from "../../lib/bus/transaction_record.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { createUpClient } from "../../lib/up/client.ts";
import { createRequestBudget } from "../../lib/up/request_budget.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { consumeWithKcat } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import { quietKafka, waitFor } from "../support/pipeline.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { childEnv } from "../support/upbus_program.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

Deno.test("createRequestBudget() never allows more than the budget in any hour", async () => {
  let now = 0;
  const made: number[] = [];
  const budget = createRequestBudget({
    perHour: 1000,
    now: () => now,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  });
  for (let i = 0; i < 2500; i++) {
    await budget.acquire();
    made.push(now);
    now += 1000; // one request a second if nothing held it back
  }
  for (let i = 1000; i < made.length; i++) {
    assert.ok(
      made[i] - made[i - 1000] >= 3_600_000,
      `request ${i} is within the hour of ${i - 1000}`,
    );
  }
});

function startBackfill(env: Record<string, string>, budget: string): Deno.ChildProcess {
  return new Deno.Command("deno", {
    args: [
      "run",
      "-P=backfill",
      "main.ts",
      "backfill",
      "--since",
      "2020-01-01",
      "--budget",
      budget,
    ],
    cwd: ROOT,
    clearEnv: true,
    env: { ...childEnv(), ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("backfill resumes from its checkpoint after a kill -9 and imports every transaction", async () => {
  const brokers = await testBrokers();
  const sim = serveUpSimulator({ port: 0, seedTransactions: 250 });
  const dataDir = await serviceDataDir();
  const topic = `upbus-test-backfill-${crypto.randomUUID()}`;
  const env = {
    KAFKA_BROKERS: brokers,
    TRANSACTIONS_TOPIC: topic,
    UP_API_BASE: sim.baseUrl,
    UP_API_TOKEN: sim.token,
    DATA_DIR: dataDir,
    LOG_LEVEL: "error",
  };
  try {
    // A budget of 4 requests: the token check, the account list and two pages, then an hour's
    // wait: kill it there.
    const first = startBackfill(env, "4");
    const stderr: string[] = [];
    const reading = (async () => {
      for await (const chunk of first.stderr.pipeThrough(new TextDecoderStream())) {
        stderr.push(chunk);
      }
    })();
    await waitFor(() => stderr.join("").includes("request budget used up"), "the budget", 60_000);
    first.kill("SIGKILL");
    await first.status;
    await first.stdout.cancel();
    await reading;
    const progress = stderr.join("");
    assert.match(progress, /\[#+-+\]\s+\d+%\s+200 transactions\s+ETA \d+:\d\d/, progress);
    const [checkpointFile] = [...Deno.readDirSync(`${dataDir}/backfill`)].map((e) => e.name);
    const checkpoint = JSON.parse(await Deno.readTextFile(`${dataDir}/backfill/${checkpointFile}`));
    assert.equal(checkpoint.requests.length, 4, "the requests made are kept for the budget");

    const second = startBackfill(env, "900");
    const output = await second.output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, text);
    assert.match(text, /resuming from/);
    assert.match(
      text,
      /Backfilled 2 accounts: \d+ transaction records published .* by this run \(25\d over every run/,
    );

    const records = await consumeWithKcat(brokers, topic);
    const ids = new Set(records.map((record) => record.key));
    const expected = sim.bank.transactions.map((transaction) => transaction.id);
    assert.equal(ids.size, 250);
    assert.deepEqual([...ids].sort(), expected.sort());
    assert.ok(records.length <= 250 + 100, "at most one page is fetched twice");
  } finally {
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("backfill --since with a plain date imports that day from 00:30 Sydney time, and nothing of the day before", async () => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  const dataDir = await serviceDataDir();
  try {
    // A day ten days ago, as a person in Sydney names it.
    const day = Temporal.Now.plainDateISO("Australia/Sydney").subtract({ days: 10 });
    const at = (date: Temporal.PlainDate, time: string) =>
      date.toPlainDateTime(Temporal.PlainTime.from(time))
        .toZonedDateTime("Australia/Sydney").epochMilliseconds;
    const early = sim.bank.addTransaction({
      amountCents: -450,
      description: "Early Coffee",
      status: "SETTLED",
      createdAt: at(day, "00:30"),
    });
    const dayBefore = sim.bank.addTransaction({
      amountCents: -1200,
      description: "Late Kebab",
      status: "SETTLED",
      createdAt: at(day.subtract({ days: 1 }), "23:30"),
    });
    const run = await new Deno.Command("deno", {
      args: ["run", "-P=backfill", "main.ts", "backfill", "--since", day.toString()],
      cwd: ROOT,
      clearEnv: true,
      env: { ...childEnv(), UP_API_BASE: sim.baseUrl, UP_API_TOKEN: sim.token, DATA_DIR: dataDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, output);
    const log = await openLocalLog(dataDir);
    const keys = log.read("up.transactions", { limit: 1000 }).map((record) => record.key);
    log.close();
    assert.deepEqual(keys, [early.id], output);
    assert.ok(!keys.includes(dayBefore.id));
  } finally {
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("backfill() without until imports a purchase made in the current second", async () => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  const dir = await Deno.makeTempDir();
  try {
    const second = Math.floor(Date.now() / 1000) * 1000 - 5000;
    const purchase = sim.bank.addTransaction({
      amountCents: -300,
      description: "This Second",
      createdAt: second,
    });
    const published: string[] = [];
    await backfill({
      up: createUpClient({ baseUrl: sim.baseUrl, token: sim.token }),
      since: new Date(second - 86_400_000),
      now: () => second + 400,
      checkpointPath: `${dir}/checkpoint.json`,
      publish: (transactions) => {
        published.push(...transactions.map((transaction) => transaction.id));
        return Promise.resolve();
      },
    });
    assert.deepEqual(published, [purchase.id]);
  } finally {
    await sim.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

for (const mode of ["embedded", "kafka"] as const) {
  Deno.test(`${mode}: backfill's page fetched before the enricher wrote a settlement leaves the settlement`, async () => {
    const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
    const dataDir = await serviceDataDir();
    const topic = `upbus-test-backfill-order-${crypto.randomUUID()}`;
    const brokers = mode === "kafka" ? await testBrokers() : "";
    const logger = createLogger({ write: () => {} });
    try {
      const purchase = sim.bank.addTransaction({ amountCents: -450, description: "Campos" });
      const fresh = sim.bank.addTransaction({ amountCents: -900, description: "Bakery" });
      const up = createUpClient({ baseUrl: sim.baseUrl, token: sim.token });
      // Up still lists the purchase HELD to backfill; the enricher already wrote it SETTLED.
      const heldNow = await up.getTransaction(purchase.id);
      const settled = structuredClone(heldNow);
      settled.attributes.status = "SETTLED";
      const record = transactionRecord(settled, "enricher");
      if (mode === "kafka") {
        const sink = await kafkaTransactionSink(quietKafka(brokers), { topic, dataDir, logger });
        await sink.publish(record);
        await sink.close();
      } else {
        const log = await openLocalLog(dataDir);
        await localLogTransactionSink(log, { topic }).publish(record);
        log.close();
      }

      const run = await new Deno.Command("deno", {
        args: ["run", "-P=backfill", "main.ts", "backfill", "--since", "2020-01-01"],
        cwd: ROOT,
        clearEnv: true,
        env: {
          ...childEnv(),
          UP_API_BASE: sim.baseUrl,
          UP_API_TOKEN: sim.token,
          DATA_DIR: dataDir,
          TRANSACTIONS_TOPIC: topic,
          ...(mode === "kafka" ? { KAFKA_BROKERS: brokers } : {}),
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, output);

      const records: { key: string | null; value: string | null }[] = [];
      if (mode === "kafka") {
        const read = await consumeWithKcat(brokers, topic);
        for (const { key, payload } of read.sort((a, b) => a.offset - b.offset)) {
          records.push({ key, value: payload });
        }
      } else {
        const log = await openLocalLog(dataDir);
        for (const { key, value } of log.read(topic, { limit: 1000 })) {
          records.push({ key, value: value && new TextDecoder().decode(value) });
        }
        log.close();
      }
      const latest = new Map(records.map(({ key, value }) => [key, JSON.parse(value!)]));
      assert.equal(latest.get(purchase.id)?.attributes.status, "SETTLED", output);
      assert.equal(latest.get(fresh.id)?.attributes.status, "HELD", "a new key is published");
      assert.equal(records.length, 2, "nothing was written over the settlement");
      assert.match(
        output,
        /1 of them skipped by this run: the topic already held a newer or the same state/,
      );
    } finally {
      await sim.shutdown();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

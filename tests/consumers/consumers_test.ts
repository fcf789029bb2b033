import assert from "node:assert/strict";
import { Partitioners } from "kafkajs";
import { createConsoleConsumer } from "../../lib/consumers/console/console.ts";
import { idempotent } from "../../lib/consumers/idempotent.ts";
import { createLedgerConsumer } from "../../lib/consumers/ledger/ledger.ts";
import { createPositionConsumer } from "../../lib/consumers/position/position_consumer.ts";
import { startConsumer } from "../../lib/bus/runner.ts";
import { kafkaRecordSource } from "../../lib/bus/kafka/record_source.ts";
import {
  ensureTransactionsTopic,
  tombstoneRecord,
  transactionRecord,
} from "../../lib/bus/transaction_record.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { SimulatedBank } from "../../lib/up_sim/bank.ts";
import { transactionResource } from "../../lib/up_sim/resources.ts";
import { testBrokers } from "../support/kafka.ts";
import { quietKafka, waitFor } from "../support/pipeline.ts";

const quiet = createLogger({ write: () => {} });
const BASE = "http://up.test/api/v1";

async function transactionsTopic(brokers: string) {
  const kafka = quietKafka(brokers);
  const topic = `upbus-test-transactions-${crypto.randomUUID()}`;
  await ensureTransactionsTopic(kafka, topic, { partitions: 2 });
  const bank = new SimulatedBank({ seedTransactions: 0 });
  const [spending, savings] = bank.accounts;
  const made = [
    bank.addTransaction({
      amountCents: -1250,
      description: "Campos, Coffee",
      categoryId: "restaurants-and-cafes",
      status: "SETTLED",
    }),
    bank.addTransaction({
      amountCents: -8420,
      description: "Woolworths",
      categoryId: "groceries",
      status: "SETTLED",
    }),
    bank.addTransaction({ amountCents: 250_000, description: "Salary", status: "SETTLED" }),
    bank.addTransaction({
      amountCents: 5000,
      description: "Interest",
      accountId: savings.id,
      status: "SETTLED",
    }),
    bank.addTransaction({ amountCents: -999, description: "Held, not in the ledger" }),
  ];
  const deleted = bank.addTransaction({ amountCents: -20_000, description: "Hotel deposit" });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: [
      ...made.map((transaction) =>
        transactionRecord(transactionResource(transaction, BASE), "test")
      ),
      transactionRecord(transactionResource(deleted, BASE), "test"),
      tombstoneRecord(deleted.id, "test"),
    ],
  });
  await producer.disconnect();
  return { kafka, topic, bank, spending, savings, count: made.length + 2 };
}

async function hledgerBalances(journal: string): Promise<Record<string, number>> {
  const output = await new Deno.Command("hledger", {
    args: ["-f", journal, "balance", "--flat", "-N", "-O", "csv"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const balances: Record<string, number> = {};
  for (const line of new TextDecoder().decode(output.stdout).trim().split("\n").slice(1)) {
    const [account, amount] = line.split(",").map((cell) => cell.replaceAll('"', ""));
    balances[account] = Math.round(Number(amount.replace(/[^0-9.-]/g, "")) * 100);
  }
  return balances;
}

Deno.test("the ledger writes each settled transaction once, hledger reads it, and it matches the position", async (t) => {
  const brokers = await testBrokers();
  const { kafka, topic, spending, savings, count } = await transactionsTopic(brokers);
  const dir = await Deno.makeTempDir();
  const names = { [spending.id]: "Spending", [savings.id]: "Savings" };
  const run = async (groupId: string) => {
    const ledger = await createLedgerConsumer({ dir, topic, accountNames: names });
    const running = await startConsumer(ledger, {
      source: kafkaRecordSource(kafka),
      groupId,
      logger: quiet,
    });
    try {
      await waitFor(() => running.handled >= count, "every record");
    } finally {
      await running.stop();
    }
    return ledger;
  };
  try {
    const first = await run(`upbus-test-ledger-${crypto.randomUUID()}`);
    assert.equal(first.written, 4, "settled only: not the held one, not the deleted one");
    await t.step("a restart that is handed every record again writes nothing twice", async () => {
      const again = await run(`upbus-test-ledger-${crypto.randomUUID()}`);
      assert.equal(again.written, 0);
      const csv = (await Deno.readTextFile(first.csvPath)).trim().split("\n");
      assert.equal(csv.length, 5, "a header and four rows");
      assert.equal(csv[0], "id,date,account,description,category,amount,currency");
      assert.ok(csv.some((row) => row.includes('"Campos, Coffee"')), "CSV fields are quoted");
      const journal = await Deno.readTextFile(first.journalPath);
      assert.equal(journal.match(/; id:/g)?.length, 4);
    });
    await t.step(
      "hledger reads the journal, and its balances are the position's settled sums",
      async () => {
        const balances = await hledgerBalances(first.journalPath);
        const position = createPositionConsumer({ topic, logger: quiet });
        const running = await startConsumer(position, {
          source: kafkaRecordSource(kafka),
          logger: quiet,
        });
        try {
          await waitFor(() => running.handled >= count, "the replay");
        } finally {
          await running.stop();
        }
        const settled = Object.fromEntries(
          position.position.accounts().map((account) => [account.accountId, account.settledCents]),
        );
        assert.equal(balances["assets:up:spending"], settled[spending.id]);
        assert.equal(balances["assets:up:savings"], settled[savings.id]);
        assert.equal(settled[spending.id], -1250 - 8420 + 250_000, "hand-computed");
        assert.equal(balances["expenses:good-life:restaurants-and-cafes"], 1250);
        assert.equal(balances["income:uncategorised"], -255_000);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("idempotent() keeps a consumer from repeating itself after a restart", async () => {
  const brokers = await testBrokers();
  const { kafka, topic, count } = await transactionsTopic(brokers);
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const run = async () => {
    const consumer = createConsoleConsumer({ out: (line) => lines.push(line), topic });
    const handle = idempotent(consumer.handle, { path: `${dir}/console.db` });
    const running = await startConsumer(
      { ...consumer, fromBeginning: true, handle, close: () => handle.close() },
      // A fresh group each time: every record is delivered again, as after lost offsets.
      {
        source: kafkaRecordSource(kafka),
        groupId: `upbus-test-console-${crypto.randomUUID()}`,
        logger: quiet,
      },
    );
    try {
      await waitFor(() => running.handled >= count, "every record");
    } finally {
      await running.stop();
    }
    return handle.skipped;
  };
  try {
    assert.equal(await run(), 0);
    assert.equal(lines.length, count);
    assert.equal(await run(), count, "the second run skips every record");
    assert.equal(lines.length, count);
    assert.ok(
      lines.some((line) => /HELD\s+-\$9\.99\s+Held, not in the ledger$/.test(line)),
      lines.join("\n"),
    );
    assert.ok(lines.some((line) => line.startsWith("deleted")));
    assert.equal((await Deno.stat(`${dir}/console.db`)).mode! & 0o777, 0o600, "owner-only");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

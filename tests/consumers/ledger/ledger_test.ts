/**
 * The ledger's opening balance, checked with the real hledger: `consume ledger` (embedded mode,
 * Up simulator) on a topic that holds only the last days of history writes one opening balance
 * per account, so `hledger balance` equals Up's balance less the held payments, and equals it
 * exactly once they settle; a restart writes no second opening balance.
 */
import assert from "node:assert/strict";
import { createConsumeCommand } from "../../../lib/cli/consume.ts";
import { transactionRecord } from "../../../lib/bus/transaction_record.ts";
import { openLocalLog } from "../../../lib/bus/local/local_log.ts";
import type { SimTransaction } from "../../../lib/up_sim/bank.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";
import { serveUpSimulator } from "../../../lib/up_sim/server.ts";
import { waitFor } from "../../support/pipeline.ts";

const TOPIC = "up.transactions";
const DAY = 24 * 3_600_000;

/** `hledger balance` of every account, in cents. */
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

Deno.test("the ledger starts from an opening balance, so hledger balance agrees with Up", async (t) => {
  const dataDir = await Deno.makeTempDir();
  const sim = serveUpSimulator({ port: 0, seedTransactions: 25 });
  const log = await openLocalLog(dataDir);
  const journal = `${dataDir}/ledger/journal.ledger`;
  const [spending, savings] = sim.bank.accounts;
  const publish = (transactions: SimTransaction[]) =>
    log.append(
      TOPIC,
      transactions.map((transaction) =>
        transactionRecord(transactionResource(transaction, sim.baseUrl), "test")
      ),
    );
  /** Runs `consume ledger` until `ready` holds for the journal, then stops it. */
  const consumeLedger = async (ready: (text: string) => boolean) => {
    const stop = Promise.withResolvers<string>();
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      UP_API_BASE: sim.baseUrl,
      UP_API_TOKEN: sim.token,
      LOG_LEVEL: "error",
    };
    const consume = createConsumeCommand({
      env: (name) => env[name],
      out: () => {},
      err: () => {},
      stopped: () => stop.promise,
    });
    const running = consume.run(["ledger"]);
    try {
      await waitFor(
        async () => ready(await Deno.readTextFile(journal).catch(() => "")),
        "the journal",
      );
    } finally {
      stop.resolve("SIGTERM");
      assert.equal(await running, 0);
    }
    return await Deno.readTextFile(journal);
  };
  try {
    // Up's history is longer than the topic's: only the last two days were backfilled.
    const held = sim.bank.addTransaction({ amountCents: -2_345, description: "Held coffee" });
    sim.bank.addTransaction({ amountCents: 120_000, description: "Salary" });
    sim.bank.transfer({ amountCents: 30_000, fromAccountId: spending.id, toAccountId: savings.id });
    const recent = sim.bank.transactions.filter((transaction) =>
      transaction.createdAt > sim.bank.now() - 2 * DAY
    );
    assert.ok(recent.length < sim.bank.transactions.length - 10, "older history is left out");
    publish(recent);
    const settledInTopic = recent.filter((transaction) => transaction.status === "SETTLED");

    await t.step("one opening balance per account, then hledger equals Up less held", async () => {
      const text = await consumeLedger((journal) =>
        (journal.match(/; id:opening:/g)?.length ?? 0) === 2 &&
        settledInTopic.every((transaction) => journal.includes(`; id:${transaction.id}`))
      );
      assert.ok(!text.includes(held.id), "a held payment is not in the journal");
      const balances = await hledgerBalances(journal);
      assert.equal(balances["assets:up:spending"], sim.bank.balanceOf(spending.id) + 2_345);
      assert.equal(balances["assets:up:savings"], sim.bank.balanceOf(savings.id));
      const firstDay = text.match(/^\d{4}-\d{2}-\d{2}/m)![0];
      assert.match(
        text,
        new RegExp(`^${firstDay} \\* Opening balance  ; id:opening:${spending.id}$`, "m"),
        "dated with the earliest entry",
      );
    });

    await t.step("once the held payment settles, hledger equals Up's balance exactly", async () => {
      sim.bank.settle(held);
      publish([held]);
      const text = await consumeLedger((journal) => journal.includes(`; id:${held.id}`));
      assert.equal(text.match(/; id:opening:/g)?.length, 2, "no second opening balance");
      const balances = await hledgerBalances(journal);
      assert.equal(balances["assets:up:spending"], sim.bank.balanceOf(spending.id));
      assert.equal(balances["assets:up:savings"], sim.bank.balanceOf(savings.id));
    });
  } finally {
    log.close();
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

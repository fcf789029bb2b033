import assert from "node:assert/strict";
import { startActualBridge } from "../../../lib/consumers/actual/bridge_client.ts";
import { createActualConsumer } from "../../../lib/consumers/actual/actual.ts";
import { startConsumer } from "../../../lib/bus/runner.ts";
import { tombstoneRecord, transactionRecord } from "../../../lib/bus/transaction_record.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import { openLocalLog } from "../../../lib/bus/local/local_log.ts";
import { localLogRecordSource } from "../../../lib/bus/local/local_log_source.ts";
import { SimulatedBank } from "../../../lib/up_sim/bank.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";
import type { TransactionResource } from "../../../lib/up/types.ts";
import { startActualServer } from "../../support/actual_server.ts";
import { waitFor } from "../../support/pipeline.ts";
import { serviceDataDir } from "../../support/service_process.ts";
import { startUpbus } from "../../support/upbus_program.ts";

const TOPIC = "up.transactions";
const BASE = "http://up.test/api/v1";
const quiet = createLogger({ write: () => {} });

interface ActualRow {
  id: string;
  imported_id: string | null;
  amount: number;
  cleared: boolean;
  category: string | null;
  transfer_id: string | null;
  payee: string | null;
}

Deno.test("consume actual keeps a budget on a real Actual sync server in step with Up", async (t) => {
  const server = await startActualServer();
  const dir = await Deno.makeTempDir({ prefix: "upbus-actual-" });
  const open = async (name: string) => {
    const bridge = startActualBridge();
    await bridge.call("open", {
      serverURL: server.url,
      password: server.password,
      syncId,
      dataDir: `${dir}/${name}`,
    });
    return bridge;
  };
  let syncId = "";
  let barsCategory = "";
  try {
    const setup = startActualBridge();
    try {
      await Deno.mkdir(`${dir}/setup`);
      ({ syncId } = await setup.call<{ syncId: string }>("createBudget", {
        serverURL: server.url,
        password: server.password,
        dataDir: `${dir}/setup`,
        name: "upbus-test",
      }));
      ({ id: barsCategory } = await setup.call<{ id: string }>("createCategory", {
        name: "Pubs & Bars",
      }));
      await setup.call("sync");
    } finally {
      await setup.close();
    }

    const bank = new SimulatedBank({ seedTransactions: 0 });
    const [spending, savings] = bank.accounts;
    const names = { [spending.id]: "Up Spending", [savings.id]: "Up Savings" };
    const record = (resource: TransactionResource) => transactionRecord(resource, "test");
    const bar = bank.addTransaction({
      amountCents: -5230,
      description: "The Union Hotel",
      categoryId: "pubs-and-bars",
    });
    const hotel = bank.addTransaction({ amountCents: -20_000, description: "Hotel deposit" });
    const out = transactionResource(
      bank.addTransaction({
        amountCents: -10_000,
        description: "Transfer to Savings",
        status: "SETTLED",
      }),
      BASE,
    );
    out.relationships.transferAccount = { data: { type: "accounts", id: savings.id } };
    const into = transactionResource(
      bank.addTransaction({
        amountCents: 10_000,
        description: "Transfer from Spending",
        accountId: savings.id,
        status: "SETTLED",
      }),
      BASE,
    );
    into.relationships.transferAccount = { data: { type: "accounts", id: spending.id } };
    const log = await openLocalLog(`${dir}/data`);
    log.append(TOPIC, [
      record(transactionResource(bar, BASE)),
      record(transactionResource(hotel, BASE)),
      record(out),
      record(into),
    ]);
    bank.settle(bar);
    log.append(TOPIC, [record(transactionResource(bar, BASE)), tombstoneRecord(hotel.id, "test")]);

    const run = async (name: string) => {
      const consumer = await createActualConsumer({
        bridge: await open(name),
        accountNames: names,
        logger: quiet,
      });
      const running = await startConsumer(consumer, {
        source: localLogRecordSource(log, { pollMs: 20 }),
      });
      try {
        await waitFor(() => running.handled === 6, "every record applied", 120_000);
      } finally {
        await running.stop();
      }
      return consumer.stats();
    };
    const rows = async () => {
      const reader = await open(`reader-${crypto.randomUUID()}`);
      try {
        const accounts = await reader.call<Array<{ id: string; name: string }>>("accounts");
        const byName = new Map(accounts.map((account) => [account.name, account.id]));
        const transactionsOf = (name: string) =>
          reader.call<ActualRow[]>("transactions", { accountId: byName.get(name) });
        return {
          spending: await transactionsOf("Up Spending"),
          savings: await transactionsOf("Up Savings"),
        };
      } finally {
        await reader.close();
      }
    };

    const stats = await run("consumer");
    await t.step("each Up account became an Actual account of its name", async () => {
      const { spending: rowsSpending, savings: rowsSavings } = await rows();
      assert.ok(rowsSpending.length > 0 && rowsSavings.length > 0);
    });
    await t.step(
      "the held purchase is one row, cleared once settled, in its category",
      async () => {
        const { spending: rowsSpending } = await rows();
        const mine = rowsSpending.filter((row) => row.imported_id === bar.id);
        assert.equal(mine.length, 1);
        assert.equal(mine[0].amount, -5230);
        assert.equal(mine[0].cleared, true);
        assert.equal(mine[0].category, barsCategory);
        assert.deepEqual(stats, { added: 3, updated: 1, removed: 1, skipped: 1 });
      },
    );
    await t.step("the deleted transaction is removed", async () => {
      const { spending: rowsSpending } = await rows();
      assert.equal(rowsSpending.filter((row) => row.imported_id === hotel.id).length, 0);
    });
    await t.step(
      "the transfer between own accounts is one Actual transfer, not two imports",
      async () => {
        const { spending: rowsSpending, savings: rowsSavings } = await rows();
        const sent = rowsSpending.filter((row) => row.imported_id === out.id);
        assert.equal(sent.length, 1);
        assert.ok(sent[0].transfer_id, "a transfer");
        const received = rowsSavings.filter((row) => row.amount === 10_000);
        assert.equal(received.length, 1, "Actual's own counterpart only");
        assert.equal(received[0].transfer_id, sent[0].id);
        assert.equal(rowsSavings.filter((row) => row.imported_id === into.id).length, 0);
      },
    );
    await t.step("reading every record again imports nothing twice", async () => {
      const before = await rows();
      log.resetPosition("upbus-actual", TOPIC, 0);
      const again = await run("consumer");
      // Only the deleted hotel comes back for a moment: its CREATED record precedes its tombstone.
      assert.equal(again.added, 1);
      assert.equal(again.removed, 1);
      const after = await rows();
      const ids = (list: ActualRow[]) => list.map((row) => row.id).sort();
      assert.deepEqual(ids(after.spending), ids(before.spending));
      assert.deepEqual(ids(after.savings), ids(before.savings));
    });
    log.close();

    await t.step(
      "consume actual, run as its task runs it, syncs a new purchase and stops on SIGTERM",
      async () => {
        const dataDir = await serviceDataDir();
        try {
          const [running] = await startUpbus(
            { command: "deno", prefix: ["run", "-P=consume", "--no-prompt", "main.ts"] },
            ["consume", "actual"],
            {
              env: {
                DATA_DIR: dataDir,
                ACTUAL_SERVER_URL: server.url,
                ACTUAL_SYNC_ID: syncId,
                ACTUAL_PASSWORD: server.password,
                ACTUAL_ACCOUNTS: `${spending.id}=Everyday`,
              },
              ready: (_line, entry) => entry?.msg === "consumer running" ? true : undefined,
              timeoutMs: 120_000,
            },
          );
          const local = await openLocalLog(dataDir);
          const coffee = bank.addTransaction({ amountCents: -450, description: "Campos Coffee" });
          try {
            local.append(TOPIC, [record(transactionResource(coffee, BASE))]);
            await waitFor(
              () => running.err.some((line) => line.includes('"created Actual account"')),
              "the Everyday account",
              60_000,
            );
          } finally {
            local.close();
            const { code } = await running.stop("SIGTERM");
            assert.equal(code, 0, running.err.join("\n"));
          }
          assert.ok(!running.err.join("\n").includes(server.password), "the password was logged");
          const reader = await open(`reader-${crypto.randomUUID()}`);
          try {
            const accounts = await reader.call<Array<{ id: string; name: string }>>("accounts");
            const everyday = accounts.find((account) => account.name === "Everyday");
            assert.ok(everyday, "ACTUAL_ACCOUNTS named the account");
            const rowsEveryday = await reader.call<ActualRow[]>("transactions", {
              accountId: everyday.id,
            });
            assert.deepEqual(rowsEveryday.map((row) => [row.imported_id, row.amount]), [[
              coffee.id,
              -450,
            ]]);
          } finally {
            await reader.close();
          }
        } finally {
          await Deno.remove(dataDir, { recursive: true });
        }
      },
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("consume actual says which setting is missing before it starts anything", async () => {
  const env: Record<string, string> = { ACTUAL_SERVER_URL: "http://127.0.0.1:1" };
  const { createConsumeCommand } = await import("../../../lib/cli/consume.ts");
  const dir = await Deno.makeTempDir();
  env.DATA_DIR = dir;
  try {
    const command = createConsumeCommand({ env: (name) => env[name] });
    await assert.rejects(
      command.run(["actual"]),
      /Cannot sync to Actual: ACTUAL_SYNC_ID is not set \(Actual: Settings, Advanced settings, Sync ID\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

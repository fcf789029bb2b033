/**
 * The ledger's files never keep half an entry (issue 18, item 5b). A crash in the middle of a
 * write leaves a torn tail: on start it is cut off (kept in `<file>.torn`, with a warning) before
 * the ids are read, so the transaction is written again, whole, when its record comes back
 * (before, the torn entry's `; id:` line counted as written and the transaction was never in the
 * journal). A write that fails on a full disk leaves the file as it was, so the retry writes the
 * entry once and whole (before, the short write was not noticed: the entry was cut silently).
 * Checked with the real hledger.
 */
import { canMountTmpfs, mountTmpfs, unmountTmpfs } from "../../support/tmpfs.ts";
import assert from "node:assert/strict";
import type { ConsumerMessage } from "../../../lib/bus/consumer.ts";
import { transactionRecord } from "../../../lib/bus/transaction_record.ts";
import { createLedgerConsumer, journalEntry } from "../../../lib/consumers/ledger/ledger.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import type { SimTransaction } from "../../../lib/up_sim/bank.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";

const ACCOUNT = "acc-spending";

function settled(n: number): SimTransaction {
  return {
    id: `tx-${n}`,
    accountId: ACCOUNT,
    status: "SETTLED",
    description: `Shop ${n}`,
    rawText: null,
    message: null,
    amountCents: -100 * n - 5,
    categoryId: "groceries",
    wasHeld: false,
    createdAt: Date.UTC(2026, 11, 1, n),
    settledAt: Date.UTC(2026, 11, 1, n + 1),
  };
}

function message(transaction: SimTransaction, offset: number): ConsumerMessage {
  const record = transactionRecord(transactionResource(transaction, "http://sim.test"), "test");
  return {
    topic: "up.transactions",
    partition: 0,
    offset: String(offset),
    key: record.key,
    value: record.value === null ? null : new TextEncoder().encode(record.value),
    headers: {},
    timestamp: "0",
  };
}

async function hledger(...args: string[]): Promise<string> {
  const output = await new Deno.Command("hledger", { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

/** The asset account's balance in cents, as hledger sums the journal. */
async function spendingCents(journal: string): Promise<number> {
  const csv = await hledger("-f", journal, "balance", "--flat", "-N", "-O", "csv");
  const row = csv.split("\n").find((line) => line.includes("assets:up:"));
  assert.ok(row, csv);
  return Math.round(Number(row.split(",")[1].replace(/[^0-9.-]/g, "")) * 100);
}

Deno.test("a torn entry left by a crash is cut off at start and written again whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [one, two, three] = [settled(1), settled(2), settled(3)];
    const first = await createLedgerConsumer({ dir });
    await first.handle(message(one, 0));
    await first.handle(message(two, 1));
    // The crash: three's journal entry cut after its id line, its CSV row cut mid-field.
    const resource = transactionResource(three, "http://sim.test");
    const entry = journalEntry(resource);
    await Deno.writeTextFile(first.journalPath, entry.slice(0, entry.indexOf("\n") + 12), {
      append: true,
    });
    await Deno.writeTextFile(first.csvPath, `${three.id},2026-12-0`, { append: true });

    const logged: Record<string, unknown>[] = [];
    const logger = createLogger({ level: "warn", write: (line) => logged.push(JSON.parse(line)) });
    const second = await createLedgerConsumer({ dir, logger });
    const warnings = logged.filter((record) => record.level === "warn");
    assert.equal(warnings.length, 2, JSON.stringify(logged));
    assert.match(String(warnings[0].msg), /torn entry/);
    assert.deepEqual(
      warnings.map((record) => record.file).sort(),
      [second.csvPath, second.journalPath].sort(),
    );
    assert.match(await Deno.readTextFile(`${second.journalPath}.torn`), /; id:tx-3/);

    // The record was not committed (the crash came before), so it is read again.
    await second.handle(message(three, 2));
    assert.equal(second.written, 1, "the torn transaction is written again");
    const journal = await Deno.readTextFile(second.journalPath);
    assert.equal(journal.match(/; id:tx-3\b/g)?.length, 1);
    assert.ok(journal.endsWith(entry), "its entry is whole, at the end");
    assert.equal(await spendingCents(second.journalPath), -(105 + 205 + 305));
    const csv = await Deno.readTextFile(second.csvPath);
    assert.deepEqual(
      csv.trim().split("\n").slice(1).map((row) => row.split(",")[0]),
      ["tx-1", "tx-2", "tx-3"],
    );

    // A third start finds whole files: nothing cut, nothing written twice.
    logged.length = 0;
    const third = await createLedgerConsumer({ dir, logger });
    await third.handle(message(three, 2));
    assert.equal(third.written, 0);
    assert.equal(logged.length, 0);
    assert.equal(await Deno.readTextFile(third.journalPath), journal);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const mountable = await canMountTmpfs();
if (!mountable) console.log("skipping the full-disk ledger test: mounting a tmpfs needs root");

Deno.test({
  name: "an entry that does not fit on a full disk leaves the files as they were",
  ignore: !mountable,
  async fn() {
    const dir = await Deno.makeTempDir();
    assert.ok(await mountTmpfs(dir, "64k"));
    try {
      const ledger = await createLedgerConsumer({ dir });
      await ledger.handle(message(settled(1), 0));
      // The journal's page nearly full, every other page taken: the next entry's first bytes
      // fit, the rest does not (a short write, then ENOSPC).
      const pad = 4096 - (await Deno.stat(ledger.journalPath)).size - 6;
      await Deno.writeTextFile(ledger.journalPath, `; ${"-".repeat(pad - 3)}\n\n`, {
        append: true,
      });
      const before = await Deno.readTextFile(ledger.journalPath);
      const filler = `${dir}/filler`;
      await Deno.writeFile(filler, new Uint8Array(128 * 1024)).catch(() => {});
      await assert.rejects(async () => await ledger.handle(message(settled(2), 1)));
      assert.equal(await Deno.readTextFile(ledger.journalPath), before, "nothing of it is kept");

      await Deno.remove(filler);
      await ledger.handle(message(settled(2), 1));
      const after = await Deno.readTextFile(ledger.journalPath);
      assert.equal(after.match(/; id:tx-2\b/g)?.length, 1);
      assert.equal(await spendingCents(ledger.journalPath), -(105 + 205));
    } finally {
      await unmountTmpfs(dir);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

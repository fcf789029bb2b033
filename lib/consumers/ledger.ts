/**
 * @module Ledger consumer
 * The built-in `ledger` consumer: appends each settled transaction once to a CSV file and to a
 * plain-text double-entry journal (hledger / ledger format). On start it reads the ids both
 * files already hold, so a restart, a redelivery or a replay never writes a transaction twice.
 */
import { readTransactionRecord } from "../kafka/transaction_record.ts";
import type { TransactionResource } from "../up/types.ts";
import type { Consumer, ConsumerMessage } from "./consumer.ts";

/** Options for {@linkcode createLedgerConsumer}. */
export interface LedgerOptions {
  /** The directory of `transactions.csv` and `journal.ledger`, created when missing. */
  dir: string;
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /** Account names by account id, e.g. from `GET /accounts`; default the ids. */
  accountNames?: Record<string, string>;
  /** The time zone of the entry dates. Default `Australia/Sydney`. */
  timeZone?: string;
}

/** The `ledger` consumer, with what it wrote. */
export interface LedgerConsumer extends Consumer {
  /** The CSV file. */
  csvPath: string;
  /** The journal. */
  journalPath: string;
  /** Transactions written since start. */
  readonly written: number;
}

const CSV_HEADER = "id,date,account,description,category,amount,currency\n";
const JOURNAL_ID = /; id:([^\s]+)/g;

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "account";
}

/** Decimal text of cents, for the journal: `-1250` → `-12.50`. */
function decimal(cents: number): string {
  const abs = Math.abs(cents);
  return `${cents < 0 ? "-" : ""}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/**
 * The journal entry of a settled transaction: the Up account against an expense, income or
 * transfer account.
 *
 * @param transaction The settled transaction.
 * @param options Account names and the time zone of the date.
 * @returns The entry, ending with a blank line.
 *
 * @example
 * ```ts ignore
 * import { journalEntry } from "./ledger.ts";
 * journalEntry(transaction, { accountNames: { [accountId]: "Spending" } });
 * ```
 */
export function journalEntry(
  transaction: TransactionResource,
  options: { accountNames?: Record<string, string>; timeZone?: string } = {},
): string {
  const { attributes, relationships } = transaction;
  const accountId = relationships.account.data.id;
  const asset = `assets:up:${slug(options.accountNames?.[accountId] ?? accountId)}`;
  const cents = attributes.amount.valueInBaseUnits;
  const category = relationships.category?.data?.id;
  const parent = relationships.parentCategory?.data?.id;
  const other = relationships.transferAccount?.data
    ? "equity:transfers"
    : cents < 0
    ? `expenses:${parent ? `${parent}:` : ""}${category ?? "uncategorised"}`
    : `income:${category ?? "uncategorised"}`;
  const currency = attributes.amount.currencyCode;
  const date = entryDate(transaction, options.timeZone);
  const payee = attributes.description.replace(/[\r\n;]+/g, " ").trim() || "Up";
  return `${date} * ${payee}  ; id:${transaction.id}\n` +
    `    ${asset.padEnd(40)}  ${decimal(cents)} ${currency}\n` +
    `    ${other.padEnd(40)}  ${decimal(-cents)} ${currency}\n\n`;
}

function entryDate(transaction: TransactionResource, timeZone = "Australia/Sydney"): string {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(Date.parse(transaction.attributes.createdAt));
}

async function readIds(path: string, pattern: RegExp): Promise<Set<string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Set();
    throw error;
  }
  return new Set([...text.matchAll(pattern)].map((match) => match[1]));
}

async function append(path: string, text: string): Promise<void> {
  const file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
  try {
    await file.write(new TextEncoder().encode(text));
    await file.syncData();
  } finally {
    file.close();
  }
}

/**
 * Creates the `ledger` consumer, reading the ids its files already hold.
 *
 * @param options The directory, topic, account names and time zone.
 * @returns The consumer; run it with `startConsumer`.
 * @throws {Deno.errors.PermissionDenied} If the directory cannot be written.
 *
 * @example
 * ```ts
 * import { createLedgerConsumer } from "./ledger.ts";
 * const dir = await Deno.makeTempDir();
 * const ledger = await createLedgerConsumer({ dir });
 * await ledger.handle({ topic: "t", partition: 0, offset: "0", key: "tx", value: null, headers: {}, timestamp: "0" });
 * if (ledger.written !== 0) throw new Error("a tombstone writes nothing");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createLedgerConsumer(options: LedgerOptions): Promise<LedgerConsumer> {
  await Deno.mkdir(options.dir, { recursive: true, mode: 0o700 });
  const csvPath = `${options.dir.replace(/\/+$/, "")}/transactions.csv`;
  const journalPath = `${options.dir.replace(/\/+$/, "")}/journal.ledger`;
  const inCsv = await readIds(csvPath, /^([^,\n]+),\d{4}-/gm);
  const inJournal = await readIds(journalPath, JOURNAL_ID);
  if (inCsv.size === 0) {
    const exists = await Deno.stat(csvPath).then(() => true, () => false);
    if (!exists) await append(csvPath, CSV_HEADER);
  }
  let written = 0;

  async function handle(message: ConsumerMessage): Promise<void> {
    const { id, transaction } = readTransactionRecord(message.key, message.value);
    if (transaction === null || transaction.attributes.status !== "SETTLED") return;
    if (inCsv.has(id) && inJournal.has(id)) return;
    if (!inJournal.has(id)) {
      await append(journalPath, journalEntry(transaction, options));
      inJournal.add(id);
    }
    if (!inCsv.has(id)) {
      const { attributes, relationships } = transaction;
      const accountId = relationships.account.data.id;
      const row = [
        id,
        entryDate(transaction, options.timeZone),
        options.accountNames?.[accountId] ?? accountId,
        attributes.description,
        relationships.category?.data?.id ?? "",
        attributes.amount.value,
        attributes.amount.currencyCode,
      ].map(csvField).join(",");
      await append(csvPath, row + "\n");
      inCsv.add(id);
    }
    written++;
  }

  return {
    name: "ledger",
    topic: options.topic ?? "up.transactions",
    handle,
    csvPath,
    journalPath,
    get written() {
      return written;
    },
  };
}

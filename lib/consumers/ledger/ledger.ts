/**
 * @module Ledger consumer
 * The built-in `ledger` consumer: appends each settled transaction once to a CSV file and to a
 * plain-text double-entry journal (hledger / ledger format). On start it reads the ids both
 * files already hold, so a restart, a redelivery or a replay never writes a transaction twice.
 * With an Up client, the journal starts from an opening balance per account, so that
 * `hledger balance` agrees with Up: once the consumer has caught up with the topic, the opening
 * balance is Up's balance now less the held payments (which the journal leaves out until they
 * settle) less every settled amount the journal already holds for that account.
 */
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { UpClient } from "../../up/client.ts";
import type { TransactionResource } from "../../up/types.ts";
import type { Consumer, ConsumerMessage } from "../../bus/consumer.ts";
import { dayInZone, DEFAULT_TIME_ZONE } from "../../runtime/dates.ts";
import { formatDecimal } from "../../runtime/money.ts";
import type { Logger } from "../../runtime/log.ts";
import {
  appendWhole,
  csvRowsEnd,
  journalEntriesEnd,
  readWhole,
  repairTail,
  type TornTail,
} from "./whole_append.ts";

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
  /**
   * Where Up's balances and held payments come from, for the opening balances; default none
   * (no opening balance: the journal then sums only the transactions it holds).
   */
  up?: Pick<UpClient, "listAccounts" | "listAccountTransactions">;
  /**
   * The end offsets, by partition, of what this consumer has yet to read at start: once it
   * has read them, the journal holds every settled transaction Up counts and the opening
   * balances can be written. Default none: at once.
   */
  unreadEndOffsets?: Record<number, string>;
  /** The clock, epoch ms, for the date of an opening balance in an empty journal. */
  now?: () => number;
  /** Where it warns about a torn entry cut off at start. Default none. */
  logger?: Logger;
}

/** The `ledger` consumer, with what it wrote. */
export interface LedgerConsumer extends Consumer {
  /** The CSV file. */
  csvPath: string;
  /** The journal. */
  journalPath: string;
  /** Transactions written since start. */
  readonly written: number;
  /**
   * Resolves once the opening balances are in the journal (at once without an Up client or
   * when the journal already has them).
   */
  opened: Promise<void>;
}

const CSV_HEADER = "id,date,account,description,category,amount,currency\n";
const JOURNAL_ID = /; id:([^\s]+)/g;

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "account";
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
    `    ${asset.padEnd(40)}  ${formatDecimal(cents)} ${currency}\n` +
    `    ${other.padEnd(40)}  ${formatDecimal(-cents)} ${currency}\n\n`;
}

function entryDate(transaction: TransactionResource, timeZone = DEFAULT_TIME_ZONE): string {
  return dayInZone(transaction.attributes.createdAt, timeZone);
}

/** The id an account's opening balance carries in the journal. */
function openingId(accountId: string): string {
  return `opening:${accountId}`;
}

/**
 * What the journal holds for one asset account, and its earliest date.
 *
 * @param journal The journal's text.
 * @param asset The asset account, such as `assets:up:spending`.
 * @returns The sum in cents of its postings, and the first entry date (`null` if none).
 */
function journalSums(journal: string, asset: string): { cents: number; firstDay: string | null } {
  let cents = 0;
  let firstDay: string | null = null;
  for (const line of journal.split("\n")) {
    const date = line.match(/^(\d{4}-\d{2}-\d{2}) /)?.[1];
    if (date !== undefined && (firstDay === null || date < firstDay)) firstDay = date;
    const posting = line.match(/^\s+(\S+)\s+(-?)(\d+)\.(\d{2}) [A-Z]{3}$/);
    if (posting?.[1] === asset) {
      cents += (posting[2] === "-" ? -1 : 1) * (Number(posting[3]) * 100 + Number(posting[4]));
    }
  }
  return { cents, firstDay };
}

async function readIds(path: string, pattern: RegExp): Promise<Set<string>> {
  const text = await readWhole(path);
  return new Set([...text.matchAll(pattern)].map((match) => match[1]));
}

/** A file's size in bytes; 0 when it does not exist. */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

function warnTorn(torn: TornTail | null, logger: Logger | undefined): void {
  if (torn === null) return;
  logger?.warn(
    "ledger: cut a torn entry off the end of a file (a crash stopped its write); its transaction is written again when its record is read",
    { file: torn.path, bytes: torn.bytes, keptIn: torn.keptIn },
  );
}

/**
 * Creates the `ledger` consumer, reading the ids its files already hold.
 *
 * @param options The directory, topic, account names, time zone, and the Up client and unread
 * end offsets for the opening balances.
 * @returns The consumer; run it with `startConsumer`.
 * @throws {Deno.errors.PermissionDenied} If the directory cannot be written.
 * @throws {UpApiError} If the opening balances are due at once and Up cannot be asked.
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
  // Before the ids are read: the id of a torn entry would otherwise count as written.
  warnTorn(await repairTail(csvPath, csvRowsEnd), options.logger);
  warnTorn(await repairTail(journalPath, journalEntriesEnd), options.logger);
  const CSV_ID = /^([^,\n]+),\d{4}-/gm;
  // The sizes the files had when their ids were read: a file that grew otherwise was written by
  // another process of the group (a Kafka rebalance, a takeover after a kill -9).
  const sizes = { csv: await sizeOf(csvPath), journal: await sizeOf(journalPath) };
  const inCsv = await readIds(csvPath, CSV_ID);
  const inJournal = await readIds(journalPath, JOURNAL_ID);
  /** Reads the ids again from a file that another process appended to. */
  async function refresh(): Promise<void> {
    const [csv, journal] = await Promise.all([sizeOf(csvPath), sizeOf(journalPath)]);
    if (csv !== sizes.csv) {
      for (const id of await readIds(csvPath, CSV_ID)) inCsv.add(id);
      sizes.csv = csv;
    }
    if (journal !== sizes.journal) {
      for (const id of await readIds(journalPath, JOURNAL_ID)) inJournal.add(id);
      sizes.journal = journal;
    }
  }
  /** Appends, and keeps the file's size known when nobody else wrote since it was last read. */
  async function appendOwn(path: string, which: "csv" | "journal", text: string): Promise<void> {
    const before = await appendWhole(path, text);
    // Another writer in between: left unknown, so the next refresh reads the file again (as it
    // also does when another writer appends after this entry: the size no longer matches).
    sizes[which] = before === sizes[which] ? before + new TextEncoder().encode(text).length : -1;
  }
  if (inCsv.size === 0) {
    const exists = await Deno.stat(csvPath).then(() => true, () => false);
    if (!exists) await appendWhole(csvPath, CSV_HEADER);
  }
  let written = 0;
  const assetOf = (accountId: string) =>
    `assets:up:${slug(options.accountNames?.[accountId] ?? accountId)}`;

  /** Writes the opening balance of every account the journal has none for. */
  async function writeOpenings(up: NonNullable<LedgerOptions["up"]>): Promise<void> {
    for await (const account of up.listAccounts({ pageSize: 100 })) {
      if (inJournal.has(openingId(account.id))) continue;
      let heldCents = 0;
      for await (
        const held of up.listAccountTransactions(account.id, { status: "HELD", pageSize: 100 })
      ) {
        heldCents += held.attributes.amount.valueInBaseUnits;
      }
      const journal = await readWhole(journalPath);
      const asset = assetOf(account.id);
      const known = journalSums(journal, asset);
      const cents = account.attributes.balance.valueInBaseUnits - heldCents - known.cents;
      const currency = account.attributes.balance.currencyCode;
      const day = known.firstDay ?? dayInZone((options.now ?? Date.now)(), options.timeZone);
      // Dated with the earliest entry so that hledger's running balance starts from it.
      await appendWhole(
        journalPath,
        `${day} * Opening balance  ; id:${openingId(account.id)}\n` +
          `    ${asset.padEnd(40)}  ${formatDecimal(cents)} ${currency}\n` +
          `    ${"equity:opening-balances".padEnd(40)}  ${formatDecimal(-cents)} ${currency}\n\n`,
      );
      inJournal.add(openingId(account.id));
    }
  }

  const pending = new Map<number, bigint>();
  for (const [partition, end] of Object.entries(options.unreadEndOffsets ?? {})) {
    if (BigInt(end) > 0n) pending.set(Number(partition), BigInt(end));
  }
  const { promise: opened, resolve: markOpened } = Promise.withResolvers<void>();
  const open = async () => {
    if (options.up !== undefined) await writeOpenings(options.up);
    markOpened();
  };
  if (pending.size === 0) await open();

  async function handle(message: ConsumerMessage): Promise<void> {
    await record(message);
    const end = pending.get(message.partition);
    if (end !== undefined && BigInt(message.offset) + 1n >= end) {
      pending.delete(message.partition);
      if (pending.size === 0) {
        try {
          await open();
        } catch (error) {
          // The record is handled again after the failure: then the opening is tried again.
          pending.set(message.partition, end);
          throw error;
        }
      }
    }
  }

  async function record(message: ConsumerMessage): Promise<void> {
    const { id, transaction } = readTransactionRecord(message.key, message.value);
    if (transaction === null || transaction.attributes.status !== "SETTLED") return;
    if (inCsv.has(id) && inJournal.has(id)) return;
    await refresh();
    if (inCsv.has(id) && inJournal.has(id)) return;
    if (!inJournal.has(id)) {
      await appendOwn(journalPath, "journal", journalEntry(transaction, options));
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
      await appendOwn(csvPath, "csv", row + "\n");
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
    opened,
  };
}

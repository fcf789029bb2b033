/**
 * @module Backfill
 * Imports history into `up.transactions`: pages the accounts and each one's transactions
 * (`page[size]=100`, newest first) and publishes each transaction under its id, the same key the
 * enricher uses. After each page it saves a checkpoint (per account, the oldest `createdAt`
 * reached), so an interrupted run resumes where it stopped. The publisher is a
 * `TransactionSink`'s `publishAll` (`lib/bus/sink.ts`): a transaction whose key already holds a
 * newer state (the enricher published its settlement after the page was fetched) or the same one
 * (a page fetched twice) is skipped, never written over it.
 */
import { type JsonSchema, latestJsonVersion, upgradeJson } from "../runtime/versioned_json.ts";
import type { UpClient } from "../up/client.ts";
import type { TransactionResource } from "../up/types.ts";

/** What is saved after each page. */
export interface BackfillCheckpoint {
  /** The checkpoint's format (see {@linkcode BACKFILL_CHECKPOINT_SCHEMA}); absent before versions. */
  version?: number;
  /** The run this checkpoint is of. */
  since: string;
  /** Its end, exclusive (RFC 3339), fixed at the first run. */
  until: string;
  /** Its one account, or `null` for every account. */
  account: string | null;
  /** The accounts to do, in order, once listed. */
  accounts: string[] | null;
  /** Per account, where its history starts: the later of `since` and its opening. */
  starts: Record<string, string>;
  /** Per account: the `filter[until]` to resume from, whether done, and how many written. */
  progress: Record<string, { until: string; done: boolean; written: number }>;
  /** Requests of the last hour (epoch ms), so a restart keeps the same budget. */
  requests: number[];
}

/** Progress after each page. */
export interface BackfillProgress {
  /** Fraction done, 0 to 1, by accounts and by time covered since each account opened. */
  fraction: number;
  /** Transactions published so far, this run and earlier ones. */
  written: number;
  /** The account being paged, or `null` once done. */
  account: string | null;
}

/** Options for {@linkcode backfill}. */
export interface BackfillOptions {
  /** The Up client, its `fetch` behind a request budget. */
  up: UpClient;
  /** Publishes one page of transactions and resolves once they are durable (or skipped as
   * older than what the topic holds). */
  publish: (transactions: TransactionResource[]) => Promise<void>;
  /** Oldest `createdAt` to import. */
  since: Date;
  /** Newest `createdAt` (exclusive). Default the end of the clock's second at the first run. */
  until?: Date;
  /** Only this account. Default every account. */
  account?: string;
  /** The checkpoint file. */
  checkpointPath: string;
  /** The request budget's history, saved with each checkpoint. Default none. */
  requests?: () => number[];
  /** Told after each page. */
  onProgress?: (progress: BackfillProgress) => void;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** A backfill checkpoint's formats: version 1 is the format before versions. */
export const BACKFILL_CHECKPOINT_SCHEMA: JsonSchema = {
  name: "backfill checkpoint",
  migrations: [],
};

/** The checkpoint file of a run: one per (since, until, account). */
export function checkpointName(since: Date, until: Date | undefined, account?: string): string {
  const part = (date: Date | undefined) => date?.toISOString().replace(/[:.]/g, "") ?? "now";
  return `backfill-${part(since)}-${part(until)}-${account ?? "all"}.json`;
}

/**
 * Reads a checkpoint.
 *
 * @param path The file.
 * @returns The checkpoint, or `null` when there is none.
 * @throws {SyntaxError} If the file is not a checkpoint.
 */
export async function readCheckpoint(path: string): Promise<BackfillCheckpoint | null> {
  try {
    const value = JSON.parse(await Deno.readTextFile(path)) as Record<string, unknown>;
    return upgradeJson(value, path, BACKFILL_CHECKPOINT_SCHEMA) as unknown as BackfillCheckpoint;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function writeCheckpoint(path: string, checkpoint: BackfillCheckpoint): Promise<void> {
  const temporary = `${path}.tmp`;
  const versioned = { ...checkpoint, version: latestJsonVersion(BACKFILL_CHECKPOINT_SCHEMA) };
  await Deno.writeTextFile(temporary, JSON.stringify(versioned, null, 2), { mode: 0o600 });
  await Deno.rename(temporary, path);
}

/**
 * Runs or resumes a backfill.
 *
 * @param options The client, publisher, range, account and checkpoint file.
 * @returns The final checkpoint.
 * @throws {UpApiError} If Up refuses a request after the client's retries (the checkpoint keeps
 * what was done; run again to resume).
 * @throws {RangeError} If `since` is not before `until`.
 *
 * @example
 * ```ts ignore
 * import { backfill } from "./backfill.ts";
 * await backfill({ up, publish, since: new Date("2024-01-01"), checkpointPath: "data/b.json" });
 * ```
 */
export async function backfill(options: BackfillOptions): Promise<BackfillCheckpoint> {
  const now = options.now ?? Date.now;
  const { up, checkpointPath } = options;
  let checkpoint = await readCheckpoint(checkpointPath);
  if (checkpoint === null) {
    // Exclusive, and Up's times have whole seconds: the end of the current second, so that a
    // purchase made in it is imported too.
    const until = options.until ?? new Date(Math.floor(now() / 1000) * 1000 + 1000);
    checkpoint = {
      since: options.since.toISOString(),
      until: until.toISOString(),
      account: options.account ?? null,
      accounts: null,
      starts: {},
      progress: {},
      requests: [],
    };
  }
  const sinceMs = Date.parse(checkpoint.since);
  const untilMs = Date.parse(checkpoint.until);
  if (!(sinceMs < untilMs)) {
    throw new RangeError(
      `Cannot backfill: since ${checkpoint.since} is not before until ${checkpoint.until}`,
    );
  }
  const save = async () => {
    checkpoint.requests = options.requests?.() ?? [];
    await writeCheckpoint(checkpointPath, checkpoint);
  };
  if (checkpoint.accounts === null) {
    const listed = checkpoint.account !== null
      ? [await up.getAccount(checkpoint.account)]
      : await Array.fromAsync(up.listAccounts({ pageSize: 100 }));
    checkpoint.accounts = listed.map((account) => account.id);
    for (const account of listed) {
      const opened = Date.parse(account.attributes.createdAt);
      checkpoint.starts[account.id] = new Date(Math.max(sinceMs, opened || 0)).toISOString();
    }
    await save();
  }
  const accounts = checkpoint.accounts;
  const written = () =>
    Object.values(checkpoint.progress).reduce((sum, entry) => sum + entry.written, 0);
  const report = (account: string | null) => {
    let done = 0;
    for (const id of accounts) {
      const entry = checkpoint.progress[id];
      if (entry?.done) done += 1;
      else if (entry) {
        const start = Date.parse(checkpoint.starts[id] ?? checkpoint.since);
        done += Math.min(1, (untilMs - Date.parse(entry.until)) / Math.max(1, untilMs - start));
      }
    }
    options.onProgress?.({
      fraction: accounts.length === 0 ? 1 : Math.min(1, done / accounts.length),
      written: written(),
      account,
    });
  };
  report(accounts[0] ?? null);

  for (const accountId of accounts) {
    const entry = checkpoint.progress[accountId] ??= {
      until: checkpoint.until,
      done: false,
      written: 0,
    };
    if (entry.done) continue;
    let page: TransactionResource[] = [];
    const flush = async () => {
      if (page.length === 0) return;
      await options.publish(page);
      // Up's times have whole seconds: resume from one second after the oldest of the page,
      // so that a transaction sharing that second is fetched again rather than missed.
      const oldest = Math.min(...page.map((t) => Date.parse(t.attributes.createdAt)));
      entry.until = new Date(Math.min(Date.parse(entry.until), oldest + 1000)).toISOString();
      entry.written += page.length;
      page = [];
      await save();
      report(accountId);
    };
    const transactions = up.listAccountTransactions(accountId, {
      pageSize: 100,
      since: new Date(sinceMs),
      until: new Date(Date.parse(entry.until)),
    });
    for await (const transaction of transactions) {
      page.push(transaction);
      if (page.length === 100) await flush();
    }
    await flush();
    entry.done = true;
    await save();
    report(null);
  }
  return checkpoint;
}

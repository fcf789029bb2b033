/**
 * @module Notify dry run
 * `consume notify --dry-run N`: replays `up.transactions` from any {@linkcode RecordSource} to
 * its current end, takes the latest N transactions, and says which rules would fire on each and
 * what they would send. Nothing is sent and no state is written.
 */
import type { Rules } from "./rules.ts";
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { TransactionResource } from "../../up/types.ts";
import { startConsumer } from "../../bus/runner.ts";
import type { RecordSource } from "../../bus/source.ts";
import { eventsOf, firings } from "./notify.ts";

/** Options for {@linkcode notifyDryRun}. */
export interface NotifyDryRunOptions {
  /** Where `up.transactions` is read. */
  source: RecordSource;
  /** The topic. */
  topic: string;
  /** The rules. */
  rules: Rules;
  /** How many of the latest transactions to look at. */
  last: number;
  /** Account names by id. */
  accountNames?: Record<string, string>;
  /** Time zone of dates in messages. */
  timeZone?: string;
}

/**
 * Says which rules would fire on the latest transactions.
 *
 * @param options Source, topic, rules, how many.
 * @returns Lines to print, one per transaction and one per notification it would send.
 * @throws {Error} If the source cannot be read.
 */
export async function notifyDryRun(options: NotifyDryRunOptions): Promise<string[]> {
  const ends = await options.source.endOffsets(options.topic);
  const remaining = new Map(
    Object.entries(ends).filter(([, end]) => BigInt(end) > 0n).map((
      [partition, end],
    ) => [Number(partition), BigInt(end)]),
  );
  const latest = new Map<string, TransactionResource | null>();
  const { promise: replayed, resolve } = Promise.withResolvers<void>();
  if (remaining.size === 0) resolve();
  const running = await startConsumer({
    name: "notify-dry-run",
    topic: options.topic,
    replay: true,
    handle(message) {
      const { id, transaction } = readTransactionRecord(message.key, message.value);
      latest.set(id, transaction);
      const end = remaining.get(message.partition);
      if (end !== undefined && BigInt(message.offset) + 1n >= end) {
        remaining.delete(message.partition);
        if (remaining.size === 0) resolve();
      }
    },
  }, { source: options.source });
  try {
    await replayed;
  } finally {
    await running.stop();
  }
  const transactions = [...latest.values()]
    .filter((transaction): transaction is TransactionResource => transaction !== null)
    .sort((a, b) => Date.parse(b.attributes.createdAt) - Date.parse(a.attributes.createdAt))
    .slice(0, options.last);
  const lines: string[] = [];
  for (const transaction of transactions) {
    const { attributes } = transaction;
    // As the live consumer sees a transaction the first time it arrives in this state.
    const fired = firings(options.rules, eventsOf(undefined, transaction), transaction, options);
    lines.push(
      `${attributes.createdAt.slice(0, 16)}  ${attributes.status.padEnd(7)}  ${
        attributes.amount.value.padStart(9)
      }  ${attributes.description}: ${
        fired.length === 0 ? "no rule" : fired.map((firing) => `"${firing.rule.name}"`).join(", ")
      }`,
    );
    for (const firing of fired) {
      for (const { notification } of firing.notifications) {
        const title = notification.title ? `${notification.title}: ` : "";
        lines.push(`    -> ${notification.target}: ${title}${notification.message}`);
      }
    }
  }
  lines.push(
    `${transactions.length} transaction(s) checked against ${options.rules.rules.length} rule(s); nothing was sent`,
  );
  return lines;
}

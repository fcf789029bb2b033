/**
 * @module Reconciliation
 * Reconciliation with the transactions API: pages each account's transactions since the point
 * known complete (less a margin) and, for each transaction whose present state no stored webhook
 * event accounts for (its events were never delivered and their logs are gone), publishes what
 * the enricher would publish for it, marked `reconciled`, through the {@linkcode TransactionSink}
 * seam (`up.transactions` on Kafka, or the local log's). Each (transaction, status) it published
 * is remembered in the store, so later passes publish it once only.
 *
 * A stored event accounts for a transaction's state when it is `TRANSACTION_SETTLED`, or when it
 * is `TRANSACTION_CREATED` and the state is `HELD`, or the event arrived after the transaction
 * settled (the enricher then fetched the settled state; Up's times are whole seconds, so "after"
 * means a second after the settled second).
 */
import { transactionRecord } from "../../bus/transaction_record.ts";
import type { TransactionSink } from "../../bus/sink.ts";
import type { Logger } from "../../runtime/log.ts";
import type { Increment } from "../../runtime/metrics.ts";
import type { TransactionEventRow } from "../../store/queries.ts";
import type { UpClient } from "../../up/client.ts";
import type { TransactionResource } from "../../up/types.ts";

/** The header (beside `upbus_source`) that marks a record reconciliation published. */
export const RECONCILED_HEADER = "upbus_origin";

/** What reconciliation needs of the store. */
export interface ReconcileStore {
  /** The stored events about each of these transactions. */
  transactionEvents(transactionIds: readonly string[]): Map<string, TransactionEventRow[]>;
  /** Which of these (transaction, status) pairs were published by reconciliation before. */
  reconciled(pairs: readonly { id: string; status: string }[]): Set<string>;
  /** Remembers that these pairs were published. */
  markReconciled(pairs: readonly { id: string; status: string }[]): void;
}

/** One account's part of a plan. */
export interface AccountPlan {
  /** Up's account id. */
  accountId: string;
  /** Transactions read in the window. */
  transactions: number;
  /** Those no stored event accounts for, oldest first. */
  missing: TransactionResource[];
}

/** Options for {@linkcode planReconciliation}. */
export interface PlanReconciliationOptions {
  /** Per account: read transactions created at or after this instant. */
  since: (accountId: string) => Date;
  /** Read transactions created before this instant. Default none. */
  until?: Date;
  /** Transactions that changed within this many ms of now are left to the webhooks (Up may
   * still be retrying them). Default 60 000. */
  graceMs?: number;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Told after each transaction read, for a progress bar. */
  onTransaction?: () => void;
}

/** Up's page size for transactions: the largest, so a quiet account costs one request. */
const PAGE_SIZE = 100;

/** The key of a (transaction, status) pair. */
function pairKey(id: string, status: string): string {
  return `${id}\u0000${status}`;
}

/**
 * Whether the stored events account for the transaction's present state.
 *
 * @param transaction The transaction as Up lists it now.
 * @param events Its stored events.
 * @returns True when the enricher has (or will have) published that state.
 */
export function eventsAccountFor(
  transaction: TransactionResource,
  events: readonly TransactionEventRow[],
): boolean {
  if (events.some((event) => event.type === "TRANSACTION_SETTLED")) return true;
  const created = events.filter((event) => event.type === "TRANSACTION_CREATED");
  if (created.length === 0) return false;
  if (transaction.attributes.status === "HELD") return true;
  // Up's times are whole seconds: only an event received a second after the settled second began
  // surely came after the settlement (else reconciliation publishes the settled state itself).
  const settledAt = Date.parse(
    transaction.attributes.settledAt ?? transaction.attributes.createdAt,
  );
  return created.some((event) => Date.parse(event.receivedAt) >= settledAt + 1000);
}

/**
 * Reads every account's transactions in its window and works out which no event accounts for;
 * changes nothing.
 *
 * @param up The Up API client.
 * @param store The stored events and what reconciliation published before.
 * @param options Windows, grace and clock.
 * @returns One plan per account.
 * @throws {UpApiError} If Up cannot be read.
 */
export async function planReconciliation(
  up: UpClient,
  store: Pick<ReconcileStore, "transactionEvents" | "reconciled">,
  options: PlanReconciliationOptions,
): Promise<AccountPlan[]> {
  const now = options.now ?? Date.now;
  const graceMs = options.graceMs ?? 60_000;
  const plans: AccountPlan[] = [];
  for await (const account of up.listAccounts({ pageSize: PAGE_SIZE })) {
    const transactions: TransactionResource[] = [];
    for await (
      const transaction of up.listAccountTransactions(account.id, {
        pageSize: PAGE_SIZE,
        since: options.since(account.id),
        ...(options.until ? { until: options.until } : {}),
      })
    ) {
      transactions.push(transaction);
      options.onTransaction?.();
    }
    const events = store.transactionEvents(transactions.map((transaction) => transaction.id));
    const published = store.reconciled(
      transactions.map((transaction) => ({
        id: transaction.id,
        status: transaction.attributes.status,
      })),
    );
    const cutoff = now() - graceMs;
    const missing = transactions
      .filter((transaction) => {
        const changed = Date.parse(
          transaction.attributes.settledAt ?? transaction.attributes.createdAt,
        );
        return changed <= cutoff &&
          !published.has(pairKey(transaction.id, transaction.attributes.status)) &&
          !eventsAccountFor(transaction, events.get(transaction.id) ?? []);
      })
      .sort((a, b) => Date.parse(a.attributes.createdAt) - Date.parse(b.attributes.createdAt));
    plans.push({ accountId: account.id, transactions: transactions.length, missing });
  }
  return plans;
}

/** Options for {@linkcode applyReconciliation}. */
export interface ApplyReconciliationOptions {
  /** Where each reconciled transaction is logged, one line each. */
  logger: Logger;
  /** `upbus_reconciled_transactions_total`. */
  reconciled?: Increment;
  /** Told after each record published. */
  onTransaction?: () => void;
}

/**
 * Publishes each missing transaction as the enricher would, marked reconciled, oldest first.
 *
 * @param plans From {@linkcode planReconciliation}.
 * @param sink Where the enricher publishes.
 * @param store Where published pairs are remembered.
 * @param options Logger and counter.
 * @returns How many were published.
 */
export async function applyReconciliation(
  plans: readonly AccountPlan[],
  sink: Pick<TransactionSink, "publish">,
  store: Pick<ReconcileStore, "markReconciled">,
  options: ApplyReconciliationOptions,
): Promise<number> {
  const all = plans.flatMap((plan) => plan.missing)
    .sort((a, b) => Date.parse(a.attributes.createdAt) - Date.parse(b.attributes.createdAt));
  let published = 0;
  for (const transaction of all) {
    const record = transactionRecord(transaction, "reconciliation");
    record.headers[RECONCILED_HEADER] = "reconciled";
    const outcome = await sink.publish(record);
    store.markReconciled([{ id: transaction.id, status: transaction.attributes.status }]);
    if (outcome === "skipped-stale") {
      // The key already holds a newer state (the enricher or backfill wrote it since the plan).
      options.logger.debug("reconciliation skipped a stale state", {
        transactionId: transaction.id,
        status: transaction.attributes.status,
      });
      continue;
    }
    published++;
    options.reconciled?.inc();
    options.onTransaction?.();
    options.logger.info("reconciled transaction from Up's transactions API", {
      transactionId: transaction.id,
      status: transaction.attributes.status,
      createdAt: transaction.attributes.createdAt,
      account: transaction.relationships.account.data.id,
    });
  }
  return published;
}

export { pairKey as reconciledPairKey };

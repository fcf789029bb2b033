/**
 * @module Recovery pass
 * One recovery pass: the delivery logs of every webhook upbus knows (`DATA_DIR/webhooks.json`
 * and `RECOVERY_WEBHOOK_IDS`) read back to the last complete pass less a margin, the missing
 * events committed to the store marked recovered; then each account's transactions over the
 * same span reconciled; then `DATA_DIR/recovery.json` moved on to when the pass began. A dry run
 * reads the same and changes nothing. The service runs one at start and on a schedule; `upbus
 * recover` runs one on demand.
 */
import type { TransactionSink } from "../../bus/sink.ts";
import type { Logger } from "../../runtime/log.ts";
import type { Increment } from "../../runtime/metrics.ts";
import { readWebhookState } from "../../up/webhook_state.ts";
import type { UpClient } from "../../up/client.ts";
import { applyLogRecovery, planLogRecovery, type WebhookLogPlan } from "./log_recovery.ts";
import { type AccountPlan, applyReconciliation, planReconciliation } from "./reconcile.ts";
import type { RecoveryStore } from "./recovery_store.ts";
import { readRecoveryState, writeRecoveryState } from "./recovery_state.ts";

/** Counters a pass moves. */
export interface RecoveryCounters {
  /** Events committed marked recovered: `upbus_recovered_events_total`. */
  recovered?: Increment;
  /** Transactions published marked reconciled: `upbus_reconciled_transactions_total`. */
  reconciled?: Increment;
  /** Events the store committed, as for a live delivery. */
  stored?: Increment;
  /** Events the store already held, as for a live delivery. */
  duplicates?: Increment;
}

/** Options for {@linkcode runRecoveryPass}. */
export interface RecoveryPassOptions {
  /** The Up API client whose webhook logs and transactions are read. */
  up: UpClient;
  /** The event store, as recovery sees it. */
  store: RecoveryStore;
  /** `DATA_DIR`: where `webhooks.json` and `recovery.json` are. */
  dataDir: string;
  /** Where the pass logs what it found and did. */
  logger: Logger;
  /** Webhooks to read beside those in `webhooks.json`. Default none. */
  webhookIds?: readonly string[];
  /** Only these webhooks (`register-webhook --replace` before it deletes them). Default all. */
  onlyWebhookIds?: readonly string[];
  /** Where reconciled transactions go; absent: no reconciliation. */
  sink?: Pick<TransactionSink, "publish">;
  /** Read back this much before the last complete pass, in ms. Default 600 000. */
  marginMs?: number;
  /** The first pass reconciles from the first stored event, but at most this far back, in ms.
   * Default 3 days. */
  lookbackMs?: number;
  /** Reconciliation leaves transactions that changed this recently to the webhooks, in ms.
   * Default 60 000. */
  graceMs?: number;
  /** Read from this instant instead of the last complete pass. */
  since?: Date;
  /** Read up to this instant (a pass with it does not move the state on). */
  until?: Date;
  /** Read and plan only. */
  dryRun?: boolean;
  /** The logs' plan of a dry run just before (`upbus recover` prints it first): used instead of
   * reading the logs again. */
  planned?: WebhookLogPlan[];
  /** The counters the pass moves; default none. */
  counters?: RecoveryCounters;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Progress: told each phase's total (logs, then transactions) once it is planned, then
   * each step. */
  onPlanned?: (steps: number) => void;
  /** Progress: told once per step done. */
  onStep?: () => void;
}

/** What a pass found and did. */
export interface RecoveryPassReport {
  /** Each webhook's logs: what was read and what was missing. */
  webhooks: WebhookLogPlan[];
  /** Each account's transactions: what was read and what was reconciled. */
  accounts: AccountPlan[];
  /** Events committed marked recovered. */
  recovered: number;
  /** Transactions published marked reconciled. */
  reconciled: number;
  /** Log entries that were not events (never stored): known missing. */
  unreadable: number;
  /** When the pass started. */
  startedAt: Date;
  /** When it ended. */
  endedAt: Date;
  /** Whether it only read and planned. */
  dryRun: boolean;
}

/**
 * Runs one pass.
 *
 * @param options The client, store, data directory, sink and window.
 * @returns What was found and done.
 * @throws {UpApiError} If Up cannot be read: nothing is marked complete, the next pass reads
 * the same span again (what was committed before the error stays, deduplicated by event id).
 */
export async function runRecoveryPass(options: RecoveryPassOptions): Promise<RecoveryPassReport> {
  const now = options.now ?? Date.now;
  const startedAt = new Date(now());
  const marginMs = options.marginMs ?? 600_000;
  const lookbackMs = options.lookbackMs ?? 3 * 86_400_000;
  const state = await readRecoveryState(options.dataDir);
  const registered = (await readWebhookState(options.dataDir)).webhooks.map((entry) => entry.id);
  const webhookIds = options.onlyWebhookIds ??
    [...new Set([...registered, ...(options.webhookIds ?? [])])];
  const back = (at: string | undefined) =>
    at === undefined ? undefined : new Date(Date.parse(at) - marginMs);

  const webhooks = options.planned ?? await planLogRecovery(options.up, options.store, {
    webhookIds,
    since: (id) => options.since ?? back(state.webhooks[id]?.completeUntil),
    until: options.until,
  });
  options.onPlanned?.(webhooks.reduce((sum, plan) => sum + plan.missing.length, 0));
  const result = options.dryRun
    ? { recovered: 0, duplicates: 0 }
    : await applyLogRecovery(webhooks, options.store, {
      logger: options.logger,
      recovered: options.counters?.recovered,
      stored: options.counters?.stored,
      duplicates: options.counters?.duplicates,
      onEvent: options.onStep,
    });

  let accounts: AccountPlan[] = [];
  let reconcileFrom = state.reconcileFrom === undefined ? undefined : new Date(state.reconcileFrom);
  let reconciled = 0;
  if (options.sink !== undefined && options.onlyWebhookIds === undefined) {
    // What upbus can know is missing starts with its first event; earlier history is backfill's.
    const first = options.store.firstEventCreatedAt();
    reconcileFrom ??= first === undefined
      ? startedAt
      : new Date(Math.max(Date.parse(first), startedAt.getTime() - lookbackMs));
    const from = reconcileFrom;
    // A dry run recovered nothing, yet what it would recover accounts for its transactions.
    const pending = options.dryRun ? webhooks.flatMap((plan) => plan.missing) : [];
    const planStore = {
      reconciled: options.store.reconciled,
      transactionEvents(ids: readonly string[]) {
        const found = options.store.transactionEvents(ids);
        for (const event of pending) {
          if (event.transactionId === undefined || !ids.includes(event.transactionId)) continue;
          const list = found.get(event.transactionId) ?? [];
          list.push({ type: event.type, receivedAt: startedAt.toISOString() });
          found.set(event.transactionId, list);
        }
        return found;
      },
    };
    accounts = await planReconciliation(options.up, planStore, {
      since: (id) => {
        if (options.since) return options.since;
        const back = state.accounts[id]?.completeUntil ?? state.lastCompletePass;
        return new Date(
          Math.max(from.getTime(), back ? Date.parse(back) - marginMs : -Infinity),
        );
      },
      until: options.until,
      graceMs: options.graceMs,
      now,
    });
    options.onPlanned?.(accounts.reduce((sum, plan) => sum + plan.missing.length, 0));
    if (!options.dryRun) {
      reconciled = await applyReconciliation(accounts, options.sink, options.store, {
        logger: options.logger,
        reconciled: options.counters?.reconciled,
        onTransaction: options.onStep,
      });
    }
  }

  const endedAt = new Date(now());
  if (!options.dryRun && options.until === undefined) {
    // Only what was read to its end moves on; a gone webhook's logs went with it.
    const next = {
      ...state,
      ...(reconcileFrom ? { reconcileFrom: reconcileFrom.toISOString() } : {}),
      webhooks: { ...state.webhooks },
      accounts: { ...state.accounts },
    };
    for (const plan of webhooks) {
      if (plan.gone) delete next.webhooks[plan.webhookId];
      else next.webhooks[plan.webhookId] = { completeUntil: startedAt.toISOString() };
    }
    for (const plan of accounts) {
      next.accounts[plan.accountId] = { completeUntil: startedAt.toISOString() };
    }
    if (options.onlyWebhookIds === undefined) {
      next.lastCompletePass = endedAt.toISOString();
    }
    await writeRecoveryState(options.dataDir, next);
  }
  return {
    webhooks,
    accounts,
    recovered: result.recovered,
    reconciled,
    unreadable: webhooks.reduce((sum, plan) => sum + plan.unreadable, 0),
    startedAt,
    endedAt,
    dryRun: options.dryRun ?? false,
  };
}

/**
 * @module Recovery in the service
 * The service's companion that makes "nothing lost" hold from Up's side of the wire: with
 * `UP_API_TOKEN` set it runs a recovery pass (lib/webhook/recovery/recovery_pass.ts) at start and every
 * `RECOVERY_INTERVAL_SECONDS`, a failed pass again after at most 30 s, within a request budget
 * of its own (300 an hour of Up's 1000) and the client's 429 handling. It never touches
 * `/readyz`: the webhook listener takes live deliveries whatever Up's API does. Its metrics:
 * `upbus_recovered_events_total`, `upbus_reconciled_transactions_total`,
 * `upbus_recovery_last_complete_pass_seconds` and `upbus_recovery_missing_events`.
 */
import type { TransactionSink } from "../bus/sink.ts";
import type { Config, RecoveryConfig } from "./config.ts";
import type { Logger } from "../runtime/log.ts";
import type { ServiceMetrics } from "../runtime/metrics.ts";
import type { EventStore } from "../store/event_store.ts";
import { createUpClient } from "../up/client.ts";
import { createRequestBudget } from "../up/request_budget.ts";
import { UpAuthError, UpRateLimitError } from "../up/errors.ts";
import { type RecoveryPassReport, runRecoveryPass } from "../webhook/recovery/recovery_pass.ts";
import { readRecoveryState } from "../webhook/recovery/recovery_state.ts";
import { recoveryStore } from "../webhook/recovery/recovery_store.ts";
import { openReconcileSink } from "../webhook/recovery/reconcile_sink.ts";

/** Requests an hour recovery may make: leaves most of Up's 1000 to enrich and backfill. */
export const RECOVERY_REQUESTS_PER_HOUR = 300;

/** The longest wait before a failed pass is tried again, in ms. */
const RETRY_MS = 30_000;

/** A running recovery companion. */
export interface RecoveryService {
  /** The last pass's report, once one completed. */
  lastReport(): RecoveryPassReport | undefined;
  /** Passes completed and failed since start. */
  passes(): { completed: number; failed: number };
  /** Requests sent to Up since start. */
  requests(): number;
  /** Stops after the pass under way (its waits are cut short). */
  stop(): Promise<void>;
}

/** Options for {@linkcode startRecoveryService}. */
export interface StartRecoveryOptions {
  /** Where recovered events are committed. */
  store: EventStore;
  /** The service's counters; recovery moves the recovered, reconciled and store ones. */
  metrics: ServiceMetrics;
  /** Where each pass logs what it found and did. */
  logger: Logger;
  /** The fetch to use. Default the global `fetch`. */
  fetch?: typeof fetch;
}

function abortableSleep(signal: AbortSignal) {
  return (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
}

/**
 * Starts the companion: a first pass at once, then on the schedule.
 *
 * @param config The service's configuration (its `recovery` part must be set).
 * @param options The open store, metrics and logger.
 * @returns The running companion.
 */
export async function startRecoveryService(
  config: Config & { recovery: RecoveryConfig },
  options: StartRecoveryOptions,
): Promise<RecoveryService> {
  const { recovery } = config;
  const logger = options.logger;
  const controller = new AbortController();
  const sleep = abortableSleep(controller.signal);
  const budget = createRequestBudget({ perHour: RECOVERY_REQUESTS_PER_HOUR, sleep });
  let requests = 0;
  const baseFetch = options.fetch ?? fetch;
  const counted: typeof fetch = (input, init) => {
    requests++;
    return baseFetch(input, { ...init, signal: init?.signal ?? controller.signal });
  };
  const up = createUpClient({
    token: recovery.token,
    ...(recovery.baseUrl ? { baseUrl: recovery.baseUrl } : {}),
    fetch: budget.wrap(counted),
    sleep,
    maxRetries: 2,
    // A rate limit that lifts only at the next hour: the pass ends, the next one waits.
    maxRateLimitWaitMs: RETRY_MS,
    onRetry: (notice) =>
      logger.info("recovery: Up API retry", { action: notice.action, delayMs: notice.delayMs }),
  });
  const store = recoveryStore(options.store);
  const metrics = options.metrics;
  const recovered = metrics.counter(
    "upbus_recovered_events_total",
    "Webhook events read back from Up's delivery logs and committed (Up had given up on them)",
  );
  const reconciled = metrics.counter(
    "upbus_reconciled_transactions_total",
    "Transactions published from Up's transactions API that no webhook event accounted for",
  );
  let lastCompletePass = (await readRecoveryState(config.dataDir).catch(() => undefined))
    ?.lastCompletePass;
  let missing = 0;
  metrics.gauge(
    "upbus_recovery_last_complete_pass_seconds",
    "When upbus last confirmed, from Up's logs and transactions, that it holds everything (epoch seconds; 0: never)",
    () => lastCompletePass ? Date.parse(lastCompletePass) / 1000 : 0,
  );
  metrics.gauge(
    "upbus_recovery_missing_events",
    "Events the last pass found missing that Up's logs could not give back (purged logs: their transactions were reconciled instead; or unreadable log entries)",
    () => missing,
  );

  let sink: TransactionSink | undefined;
  async function openSink(): Promise<TransactionSink> {
    sink ??= await openReconcileSink(config, { topic: recovery.transactionsTopic, logger });
    return sink;
  }

  let report: RecoveryPassReport | undefined;
  let completed = 0;
  let failed = 0;
  async function pass(): Promise<void> {
    const before = requests;
    const started = Date.now();
    try {
      report = await runRecoveryPass({
        up,
        store,
        dataDir: config.dataDir,
        logger,
        webhookIds: recovery.webhookIds,
        sink: await openSink(),
        marginMs: recovery.marginSeconds * 1000,
        graceMs: recovery.graceSeconds * 1000,
        counters: {
          recovered,
          reconciled,
          stored: metrics.stored,
          duplicates: metrics.duplicates,
        },
      });
      completed++;
      lastCompletePass = report.endedAt.toISOString();
      missing = report.reconciled + report.unreadable;
      logger.info("recovery pass complete", {
        webhooks: report.webhooks.length,
        logEntries: report.webhooks.reduce((sum, plan) => sum + plan.entries, 0),
        recovered: report.recovered,
        accounts: report.accounts.length,
        reconciled: report.reconciled,
        requests: requests - before,
        durationMs: Date.now() - started,
      });
    } catch (error) {
      if (controller.signal.aborted) return;
      failed++;
      logger.warn(
        "recovery pass failed; live webhooks are still accepted, the pass runs again shortly",
        {
          error: (error as Error).message,
          retryInSeconds: error instanceof UpRateLimitError && error.retryAt !== null
            ? Math.max(0, Math.round((error.retryAt.getTime() - Date.now()) / 1000))
            : error instanceof UpAuthError
            ? recovery.intervalSeconds
            : Math.min(RETRY_MS, recovery.intervalSeconds * 1000) / 1000,
        },
      );
      throw error;
    }
  }

  const loop = (async () => {
    while (!controller.signal.aborted) {
      let delay = recovery.intervalSeconds * 1000;
      try {
        await pass();
      } catch (error) {
        // A rejected token stays rejected until someone changes UP_API_TOKEN: the schedule's
        // next pass is soon enough. Anything else (Up down, a timeout) is tried again shortly.
        if (!(error instanceof UpAuthError)) delay = Math.min(RETRY_MS, delay);
        // Up said when its hourly limit lifts: asking before then only earns another 429.
        if (error instanceof UpRateLimitError && error.retryAt !== null) {
          delay = Math.max(delay, error.retryAt.getTime() - Date.now());
        }
      }
      try {
        await sleep(delay);
      } catch {
        return;
      }
    }
  })();

  return {
    lastReport: () => report,
    passes: () => ({ completed, failed }),
    requests: () => requests,
    async stop() {
      controller.abort(new Error("the service is stopping"));
      await loop;
      await sink?.close();
      store.close();
    },
  };
}

/**
 * @module Position consumer
 * The built-in `position` consumer: replays the compacted `up.transactions` topic on every start
 * to rebuild the position in memory, keeps it current from then on, reconciles it with
 * `GET /accounts` on a schedule (reporting drift), and serves the live dashboard.
 */
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { Logger } from "../../runtime/log.ts";
import type { UpClient } from "../../up/client.ts";
import type { AccountResource } from "../../up/types.ts";
import type { Consumer, ConsumerMessage } from "../../bus/consumer.ts";
import { type Dashboard, serveDashboard } from "./dashboard.ts";
import { buildSnapshot, type DashboardSnapshot, problemMessage } from "./dashboard_snapshot.ts";
import { type Drift, Position } from "./position.ts";
import { positionMetrics } from "./position_metrics.ts";

/** Options for {@linkcode createPositionConsumer}. */
export interface PositionConsumerOptions {
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /**
   * The topic's end offsets by partition when the consumer starts (`admin.fetchTopicOffsets`):
   * once they are reached the position is rebuilt. Default none: rebuilt at once.
   */
  endOffsets?: Record<number, string>;
  /** The Up client for reconciliation; default none (no balances, no drift). */
  up?: UpClient;
  /** Milliseconds between reconciliations once rebuilt; 0 for none. Default 300 000. */
  reconcileMs?: number;
  /**
   * The dashboard's port, interface and password (required off loopback); default no
   * dashboard.
   */
  dashboard?: { port?: number; hostname?: string; password?: string };
  /** The time zone of "today". Default `Australia/Sydney`. */
  timeZone?: string;
  /**
   * When upbus last confirmed, from Up's delivery logs and transactions, that it holds every
   * event (epoch ms, `null`: never), asked at each reconciliation. Default none.
   */
  completeAt?: () => Promise<number | null>;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Where it logs. */
  logger: Logger;
  /** Called after each reconciliation with what `GET /accounts` returned. Default none. */
  onReconciled?: (accounts: AccountResource[]) => void;
}

/** The running `position` consumer's handles. */
export interface PositionConsumer extends Consumer {
  /** The figures. */
  position: Position;
  /** The dashboard, when asked for. */
  dashboard: Dashboard | undefined;
  /** Resolves once the topic has been replayed up to its end offsets at start. */
  rebuilt: Promise<void>;
  /** Compares with `GET /accounts` now; returns the drifts (empty without an Up client). */
  reconcile(): Promise<Drift[]>;
  /** The dashboard's figures. */
  snapshot(): DashboardSnapshot;
  /** The position's gauges, as the dashboard's `GET /metrics` serves them. */
  metrics(): string;
}

/**
 * Creates the `position` consumer, and its dashboard when asked.
 *
 * @param options Topic, end offsets, Up client, schedule, dashboard, time zone, clock, logger.
 * @returns The consumer; run it with `startConsumer` (it replays: `replay: true`).
 * @throws {Deno.errors.AddrInUse} If the dashboard's port is taken.
 *
 * @example
 * ```ts ignore
 * import { createPositionConsumer } from "./position_consumer.ts";
 * const consumer = createPositionConsumer({ logger, dashboard: { port: 8081 } });
 * ```
 */
export function createPositionConsumer(options: PositionConsumerOptions): PositionConsumer {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const position = new Position({ timeZone: options.timeZone, now });
  const pending = new Map<number, bigint>();
  for (const [partition, end] of Object.entries(options.endOffsets ?? {})) {
    if (BigInt(end) > 0n) pending.set(Number(partition), BigInt(end));
  }
  const { promise: rebuilt, resolve: markRebuilt } = Promise.withResolvers<void>();
  let updatedAt = now();
  let reconciledAt: number | null = null;
  let completeAt: number | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const retrySeconds = Math.round((options.reconcileMs ?? 300_000) / 1000);
  let categoryNames: Map<string, string> | undefined;
  let problem = options.up === undefined ? problemMessage(null, { retrySeconds }) : null;

  function snapshot(): DashboardSnapshot {
    return buildSnapshot(position, {
      categoryNames,
      problem,
      updatedAt,
      reconciledAt,
      completeAt,
      timeZone: options.timeZone,
    });
  }

  const metrics = () => positionMetrics(position, { timeZone: options.timeZone, now });
  const dashboard = options.dashboard === undefined ? undefined : serveDashboard({
    snapshot,
    metrics,
    ...options.dashboard,
  });

  async function reconcile(): Promise<Drift[]> {
    if (options.up === undefined) return [];
    const accounts = [];
    try {
      for await (const account of options.up.listAccounts({ pageSize: 100 })) {
        accounts.push(account);
      }
      categoryNames ??= new Map(
        (await options.up.listCategories()).map((
          category,
        ) => [category.id, category.attributes.name]),
      );
    } catch (error) {
      problem = problemMessage(error, { retrySeconds });
      dashboard?.push();
      throw error;
    }
    problem = null;
    const drifts = position.reconcile(accounts);
    reconciledAt = now();
    options.onReconciled?.(accounts);
    completeAt = await options.completeAt?.().catch(() => completeAt) ?? completeAt;
    for (const drift of drifts) {
      logger.warn("position drifts from Up's balance", {
        accountId: drift.accountId,
        upCents: drift.upCents,
        ourCents: drift.ourCents,
        driftCents: drift.driftCents,
      });
    }
    dashboard?.push();
    return drifts;
  }

  function rebuiltNow(): void {
    logger.info("position rebuilt", { transactions: position.size });
    markRebuilt();
    const every = options.reconcileMs ?? 300_000;
    if (options.up === undefined || every === 0 || closed) return;
    const run = () =>
      reconcile().catch((error) =>
        logger.warn("cannot reconcile with Up's balances", { error: (error as Error).message })
      );
    run();
    timer = setInterval(run, every);
  }
  if (pending.size === 0) queueMicrotask(rebuiltNow);

  let soon: ReturnType<typeof setTimeout> | undefined;
  /** An anchor that may be off by a transaction of its second is taken again, shortly after. */
  function reconcileSoon(): void {
    if (options.up === undefined || soon !== undefined || closed) return;
    soon = setTimeout(() => {
      soon = undefined;
      reconcile().catch((error) =>
        logger.warn("cannot reconcile with Up's balances", { error: (error as Error).message })
      );
    }, 1500);
  }

  function handle(message: ConsumerMessage): void {
    const { id, transaction } = readTransactionRecord(message.key, message.value);
    const applied = position.apply(id, transaction);
    if (position.uncertain) reconcileSoon();
    updatedAt = now();
    dashboard?.push(applied ?? { id, deleted: true });
    const end = pending.get(message.partition);
    if (end !== undefined && BigInt(message.offset) + 1n >= end) {
      pending.delete(message.partition);
      if (pending.size === 0) rebuiltNow();
    }
  }

  return {
    name: "position",
    topic: options.topic ?? "up.transactions",
    replay: true,
    handle,
    position,
    dashboard,
    rebuilt,
    reconcile,
    snapshot,
    metrics,
    async close() {
      closed = true;
      clearInterval(timer);
      clearTimeout(soon);
      await dashboard?.close();
    },
  };
}

/**
 * @module Dashboard snapshot
 * What the dashboard shows, built from the position: accounts with names, balances and their
 * last 30 days, spend per day and by category with Up's category names, the latest
 * transactions, and, when Up cannot be asked, a plain message saying why.
 */
import { UpAuthError, UpNetworkError, UpRateLimitError } from "../../up/errors.ts";
import { balanceSvg } from "./balance_chart.ts";
import type { AccountPosition, DayFigure, Position, PositionTransaction } from "./position.ts";
import { dailySpendSvg } from "./spend_chart.ts";
import { DEFAULT_TIME_ZONE } from "../../runtime/dates.ts";

/** One account as the dashboard shows it. */
export interface DashboardAccount extends AccountPosition {
  /** Up's name, else a readable stand-in (`Account 03a39172`). */
  label: string;
  /** End-of-day balances of the last 30 days, or `null` while the balance is unknown. */
  history: DayFigure[] | null;
  /** `history` as an inline SVG (empty while unknown). */
  chart: string;
}

/** One transaction as the dashboard shows it. */
export interface DashboardTransaction extends PositionTransaction {
  /** Up's name of the category, `null` when it has none. */
  categoryName: string | null;
  /** The account's name. */
  accountName: string;
}

/** Spend of one category over the last days. */
export interface CategorySpend {
  /** The category id, or `uncategorised`. */
  category: string;
  /** Its name as the page shows it. */
  name: string;
  /** Spend in the category, positive cents. */
  cents: number;
}

/** What the page shows; sent whole on every change (it is small). */
export interface DashboardSnapshot {
  /** Every account's figures. */
  accounts: DashboardAccount[];
  /** The latest transactions, newest first. */
  recent: DashboardTransaction[];
  /** Spend per day, last 30 days, oldest first. */
  spendDays: DayFigure[];
  /** `spendDays` as an inline SVG. */
  spendChart: string;
  /** Spend by category over the same days, largest first. */
  spendCategories: CategorySpend[];
  /** Why balances or names may be missing or old, in words; `null` when all is well. */
  problem: string | null;
  /** When the figures last changed, ISO 8601. */
  updatedAt: string;
  /** When Up's balances were last compared, ISO 8601, or `null`. */
  reconciledAt: string | null;
  /** When upbus last confirmed it holds every event Up sent (recovery), ISO 8601, or `null`. */
  completeAt: string | null;
  /** The time zone of days and times on the page. */
  timeZone: string;
}

/** Options for {@linkcode buildSnapshot}. */
export interface SnapshotOptions {
  /** Up's category names by id (`GET /categories`); unknown ids are made readable. */
  categoryNames?: ReadonlyMap<string, string>;
  /** See {@linkcode DashboardSnapshot.problem}. */
  problem?: string | null;
  /** Epoch ms of the last change. */
  updatedAt: number;
  /** Epoch ms of the last reconciliation, or `null`. */
  reconciledAt: number | null;
  /** Epoch ms of recovery's last complete pass, or `null` (default). */
  completeAt?: number | null;
  /** How many latest transactions. Default 20. */
  recent?: number;
  /** How many days of history and spend. Default 30. */
  days?: number;
  /** The time zone of days and times. Default `Australia/Sydney`. */
  timeZone?: string;
}

/**
 * A readable name for a category id Up did not name: `restaurants-and-cafes` →
 * `Restaurants and cafes`.
 *
 * @param id A category id.
 * @returns The name.
 *
 * @example
 * ```ts
 * import { readableCategory } from "./dashboard_snapshot.ts";
 * if (readableCategory("public-transport") !== "Public transport") throw new Error("unexpected");
 * ```
 */
export function readableCategory(id: string): string {
  const words = id.replaceAll("-", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * Builds the dashboard's figures from the position.
 *
 * @param position The position.
 * @param options Category names, the problem to show, times, sizes.
 * @returns The snapshot.
 *
 * @example
 * ```ts
 * import { buildSnapshot } from "./dashboard_snapshot.ts";
 * import { Position } from "./position.ts";
 * const snapshot = buildSnapshot(new Position(), { updatedAt: 0, reconciledAt: null });
 * if (snapshot.spendDays.length !== 30) throw new Error("unexpected");
 * ```
 */
export function buildSnapshot(position: Position, options: SnapshotOptions): DashboardSnapshot {
  const days = options.days ?? 30;
  const names = options.categoryNames ?? new Map<string, string>();
  const categoryName = (id: string) => names.get(id) ?? readableCategory(id);
  const accounts = position.accounts().map((account): DashboardAccount => {
    const history = position.balanceHistory(account.accountId, days);
    return {
      ...account,
      label: account.name ?? `Account ${account.accountId.slice(0, 8)}`,
      history,
      chart: history === null ? "" : balanceSvg(history),
    };
  });
  const labels = new Map(accounts.map((account) => [account.accountId, account.label]));
  const spendDays = position.dailySpend(days);
  const byCategory = position.categorySpend(days);
  return {
    accounts,
    recent: position.recent(options.recent ?? 20).map((transaction) => ({
      ...transaction,
      categoryName: transaction.category === null ? null : categoryName(transaction.category),
      accountName: labels.get(transaction.accountId) ??
        `Account ${transaction.accountId.slice(0, 8)}`,
    })),
    spendDays,
    spendChart: dailySpendSvg(spendDays),
    spendCategories: Object.entries(byCategory)
      .map(([category, cents]) => ({
        category,
        name: category === "uncategorised" ? "Uncategorised" : categoryName(category),
        cents,
      }))
      .sort((a, b) => b.cents - a.cents || a.name.localeCompare(b.name)),
    problem: options.problem ?? null,
    updatedAt: new Date(options.updatedAt).toISOString(),
    reconciledAt: options.reconciledAt === null
      ? null
      : new Date(options.reconciledAt).toISOString(),
    completeAt: options.completeAt == null ? null : new Date(options.completeAt).toISOString(),
    timeZone: options.timeZone ?? DEFAULT_TIME_ZONE,
  };
}

/**
 * Says in words why Up could not be asked for balances and names, and what to do.
 *
 * @param error What the Up client threw, or `null` when there is no Up client (no token).
 * @param options How often it tries again, in seconds (0: never).
 * @returns The message for the page.
 *
 * @example
 * ```ts
 * import { problemMessage } from "./dashboard_snapshot.ts";
 * if (!problemMessage(null, { retrySeconds: 300 }).includes("UP_API_TOKEN")) throw new Error();
 * ```
 */
export function problemMessage(error: unknown, options: { retrySeconds: number }): string {
  const again = options.retrySeconds > 0
    ? ` upbus asks again every ${
      options.retrySeconds >= 120
        ? `${Math.round(options.retrySeconds / 60)} minutes`
        : `${options.retrySeconds} seconds`
    }.`
    : "";
  if (error === null) {
    return "UP_API_TOKEN is not set, so balances and account names are unknown: the figures are " +
      "only the transactions seen. Set UP_API_TOKEN and restart `consume position`.";
  }
  if (error instanceof UpAuthError) {
    return "Up rejected the token (HTTP 401), so balances and account names cannot be loaded. " +
      "Set UP_API_TOKEN to a valid personal access token from https://api.up.com.au and " +
      "restart `consume position`.";
  }
  if (error instanceof UpRateLimitError) {
    return `Up is limiting requests (HTTP 429), so the balances shown may be out of date.${again}`;
  }
  if (error instanceof UpNetworkError) {
    return `Up cannot be reached (${
      error.message.replace(/^Cannot [^:]+: /, "")
    }), so the balances shown may be out of date.${again}`;
  }
  const detail = error instanceof Error ? error.message : String(error);
  return `Up's balances could not be loaded (${detail}), so they may be out of date.${again}`;
}

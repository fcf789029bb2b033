/**
 * @module Position metrics
 * The position as Prometheus gauges, served on the position dashboard's `GET /metrics`: balance,
 * settled and held amounts per account, and spend today and this month per account and category,
 * in Australian dollars, labelled with the account's id and display name and the category id.
 */
import type { Position } from "./position.ts";
import { dayInZone, DEFAULT_TIME_ZONE } from "../../runtime/dates.ts";

/** Options for {@linkcode positionMetrics}. */
export interface PositionMetricsOptions {
  /** The time zone of "today" and "this month". Default `Australia/Sydney`. */
  timeZone?: string;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

function label(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function labels(values: Record<string, string>): string {
  return `{${
    Object.entries(values).map(([name, value]) => `${name}="${label(value)}"`).join(",")
  }}`;
}

const aud = (cents: number) => (cents / 100).toFixed(2);

/**
 * Renders the position in Prometheus's text exposition format.
 *
 * @param position The position.
 * @param options Time zone and clock.
 * @returns The metrics text.
 *
 * @example
 * ```ts
 * import { Position } from "./position.ts";
 * import { positionMetrics } from "./position_metrics.ts";
 * const text = positionMetrics(new Position());
 * if (!text.includes("# TYPE upbus_position_transactions gauge")) throw new Error("unexpected");
 * ```
 */
export function positionMetrics(position: Position, options: PositionMetricsOptions = {}): string {
  const now = options.now ?? Date.now;
  const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
  const day = (instant: number) => dayInZone(instant, timeZone);
  const accounts = position.accounts();
  const names = new Map(accounts.map((account) => [account.accountId, account.name]));
  const accountLabels = (accountId: string) => ({
    account_id: accountId,
    account: names.get(accountId) ?? accountId,
  });
  const lines: string[] = [];
  function gauge(name: string, help: string, samples: Array<[Record<string, string>, string]>) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [values, value] of samples) lines.push(`${name}${labels(values)} ${value}`);
  }
  gauge(
    "upbus_account_balance_aud",
    "Balance per account: Up's balance at the last reconciliation plus what arrived since.",
    accounts.filter((account) => account.balanceCents !== null).map((account) => [
      accountLabels(account.accountId),
      aud(account.balanceCents!),
    ]),
  );
  gauge(
    "upbus_account_settled_aud",
    "Sum of the settled transactions seen per account.",
    accounts.map((account) => [accountLabels(account.accountId), aud(account.settledCents)]),
  );
  gauge(
    "upbus_account_held_aud",
    "Sum of the held (not yet settled) transactions per account.",
    accounts.map((account) => [accountLabels(account.accountId), aud(account.heldCents)]),
  );

  const today = day(now());
  const spend = { today: new Map<string, number>(), month: new Map<string, number>() };
  const transactions = position.recent(position.size);
  for (const transaction of transactions) {
    if (transaction.amountCents >= 0 || transaction.transfer) continue;
    const date = day(transaction.createdAt);
    if (date.slice(0, 7) !== today.slice(0, 7)) continue;
    const key = `${transaction.accountId}\u0000${transaction.category ?? "uncategorised"}`;
    spend.month.set(key, (spend.month.get(key) ?? 0) - transaction.amountCents);
    if (date === today) spend.today.set(key, (spend.today.get(key) ?? 0) - transaction.amountCents);
  }
  const spendSamples = (sums: Map<string, number>) =>
    [...sums].sort(([a], [b]) => a.localeCompare(b)).map(([key, cents]) => {
      const [accountId, category] = key.split("\u0000");
      return [{ ...accountLabels(accountId), category }, aud(cents)] as [
        Record<string, string>,
        string,
      ];
    });
  gauge(
    "upbus_spend_today_aud",
    "Purchases today (held or settled, transfers excluded) per account and category.",
    spendSamples(spend.today),
  );
  gauge(
    "upbus_spend_month_aud",
    "Purchases this month (held or settled, transfers excluded) per account and category.",
    spendSamples(spend.month),
  );
  gauge("upbus_position_transactions", "Transactions in the position.", [[
    {},
    String(transactions.length),
  ]]);
  return lines.join("\n").replace(/\{\} /g, " ") + "\n";
}

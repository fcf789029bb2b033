/**
 * @module Position
 * The money position computed from transactions: per account the settled and held amounts and,
 * once anchored to Up's balances, the balance and its history; spend by category today and this
 * month, and per day; the latest transactions. Reconciling with `GET /accounts` anchors the balances the first time and
 * reports drift every time after.
 */
import type { AccountResource, TransactionResource } from "../../up/types.ts";
import { dayInZone, DEFAULT_TIME_ZONE } from "../../runtime/dates.ts";

/** What the position keeps of one transaction. */
export interface PositionTransaction {
  /** Up's transaction id. */
  id: string;
  /** The account it belongs to. */
  accountId: string;
  /** Up's status: `HELD` until it settles. */
  status: "HELD" | "SETTLED";
  /** Up's description (usually the merchant). */
  description: string;
  /** Signed amount in cents: negative for a purchase. */
  amountCents: number;
  /** Child category id, or `null`. */
  category: string | null;
  /** Whether it moves money between the customer's own accounts. */
  transfer: boolean;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** One account's figures, in cents. */
export interface AccountPosition {
  /** Up's account id. */
  accountId: string;
  /** Up's display name, once known from `GET /accounts`. */
  name: string | null;
  /** Up's account type (`TRANSACTIONAL`, `SAVER`, `HOME_LOAN`), once known. */
  accountType: string | null;
  /** Sum of the settled transactions seen. */
  settledCents: number;
  /** Sum of the held transactions seen. */
  heldCents: number;
  /** The balance: the anchor plus settled and held, or `null` before any reconciliation. */
  balanceCents: number | null;
  /** How many held transactions make up `heldCents`. */
  heldCount: number;
  /** Up's balance minus ours at the last reconciliation, or `null` before any. */
  driftCents: number | null;
}

/** One day's figure: the day in the position's time zone (`2026-12-01`) and cents. */
export interface DayFigure {
  /** The day, `YYYY-MM-DD`, in the position's time zone. */
  day: string;
  /** The day's figure in cents. */
  cents: number;
}

/** Spend (purchases, positive cents) by category id; `uncategorised` when Up has none. */
export type SpendByCategory = Record<string, number>;

/** A reconciliation's finding for one account. */
export interface Drift {
  /** Up's account id. */
  accountId: string;
  /** Up's balance. */
  upCents: number;
  /** Ours. */
  ourCents: number;
  /** `upCents - ourCents`. */
  driftCents: number;
}

/** Options for {@linkcode Position}. */
export interface PositionOptions {
  /** The time zone of "today" and "this month". Default `Australia/Sydney`. */
  timeZone?: string;
  /** The clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * Reads what the position needs from a transaction resource.
 *
 * @param resource The resource.
 * @returns Its position facts.
 *
 * @example
 * ```ts ignore
 * import { positionTransaction } from "./position.ts";
 * const facts = positionTransaction(resource);
 * ```
 */
export function positionTransaction(resource: TransactionResource): PositionTransaction {
  const { attributes, relationships } = resource;
  return {
    id: resource.id,
    accountId: relationships.account.data.id,
    status: attributes.status,
    description: attributes.description,
    amountCents: attributes.amount.valueInBaseUnits,
    category: relationships.category?.data?.id ?? null,
    transfer: relationships.transferAccount?.data != null,
    createdAt: Date.parse(attributes.createdAt),
  };
}

const TYPE_ORDER = ["TRANSACTIONAL", "SAVER", "HOME_LOAN"];

function typeRank(type: string | null): number {
  const rank = type === null ? -1 : TYPE_ORDER.indexOf(type);
  return rank < 0 ? TYPE_ORDER.length : rank;
}

/** The money position, built from transactions and anchored to Up's balances. */
export class Position {
  readonly #transactions = new Map<string, PositionTransaction>();
  readonly #anchors = new Map<string, number>();
  readonly #anchoredAt = new Map<string, number>();
  /** Accounts whose anchor may count a transaction twice: made in the second it was read. */
  readonly #uncertain = new Set<string>();
  readonly #drift = new Map<string, number>();
  readonly #names = new Map<string, string>();
  readonly #types = new Map<string, string>();
  readonly #day: (instant: number) => string;
  readonly #now: () => number;

  /**
   * Makes an empty position.
   *
   * @param options The time zone and clock.
   */
  constructor(options: PositionOptions = {}) {
    const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
    this.#day = (instant) => dayInZone(instant, timeZone);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Applies a transaction's latest state; `null` removes it (a tombstone).
   *
   * @param id The transaction id.
   * @param resource Its latest state, or `null`.
   * @returns The facts applied, or `null` for a removal.
   */
  apply(id: string, resource: TransactionResource | null): PositionTransaction | null {
    if (resource === null) {
      this.#transactions.delete(id);
      return null;
    }
    const facts = positionTransaction(resource);
    const anchoredAt = this.#anchoredAt.get(facts.accountId);
    // Up's createdAt has whole seconds, so a transaction made just after the balance was read
    // can look older than the anchor by up to a second: only those from an earlier second count
    // as history.
    const anchorSecond = anchoredAt === undefined
      ? undefined
      : Math.floor(anchoredAt / 1000) * 1000;
    if (
      !this.#transactions.has(id) && anchorSecond !== undefined && facts.createdAt < anchorSecond
    ) {
      // History arriving after the anchor (a backfill, a late event): Up's balance already held
      // it when it was read, so it moves the anchor, not the balance.
      this.#anchors.set(facts.accountId, this.#anchors.get(facts.accountId)! - facts.amountCents);
    } else if (
      !this.#transactions.has(id) && anchorSecond !== undefined &&
      facts.createdAt < anchorSecond + 1000
    ) {
      // Made in the very second the balance was read: Up's balance may or may not hold it. The
      // next reconciliation anchors this account again ({@linkcode Position.uncertain}).
      this.#uncertain.add(facts.accountId);
    }
    this.#transactions.set(id, facts);
    return facts;
  }

  /**
   * Whether an anchor may be off by a transaction made in the second it was taken: then the
   * next {@linkcode Position.reconcile} anchors that account again, and should come soon.
   */
  get uncertain(): boolean {
    return this.#uncertain.size > 0;
  }

  /** How many transactions it holds. */
  get size(): number {
    return this.#transactions.size;
  }

  /**
   * Every account seen in a transaction or a reconciliation: the everyday (transactional)
   * account first, as in Up's app, then savers, then by name and id.
   *
   * @returns One entry per account.
   */
  accounts(): AccountPosition[] {
    const sums = new Map<string, { settled: number; held: number; heldCount: number }>();
    for (const id of [...this.#anchors.keys(), ...this.#names.keys()]) {
      sums.set(id, { settled: 0, held: 0, heldCount: 0 });
    }
    for (const transaction of this.#transactions.values()) {
      const sum = sums.get(transaction.accountId) ?? { settled: 0, held: 0, heldCount: 0 };
      if (transaction.status === "SETTLED") sum.settled += transaction.amountCents;
      else {
        sum.held += transaction.amountCents;
        sum.heldCount++;
      }
      sums.set(transaction.accountId, sum);
    }
    return [...sums].map(([accountId, sum]) => {
      const anchor = this.#anchors.get(accountId);
      return {
        accountId,
        name: this.#names.get(accountId) ?? null,
        accountType: this.#types.get(accountId) ?? null,
        settledCents: sum.settled,
        heldCents: sum.held,
        balanceCents: anchor === undefined ? null : anchor + sum.settled + sum.held,
        heldCount: sum.heldCount,
        driftCents: this.#drift.get(accountId) ?? null,
      };
    }).sort((a, b) =>
      typeRank(a.accountType) - typeRank(b.accountType) ||
      (a.name ?? "\uffff").localeCompare(b.name ?? "\uffff") ||
      a.accountId.localeCompare(b.accountId)
    );
  }

  /**
   * Spend by category: purchases (negative amounts, transfers excluded), held or settled, as
   * positive cents, for the current day and month of the time zone.
   *
   * @param options `accountId`: only that account's purchases. Default every account's.
   * @returns `today` and `month`.
   */
  spend(options: { accountId?: string } = {}): { today: SpendByCategory; month: SpendByCategory } {
    const today = this.#day(this.#now());
    const month = today.slice(0, 7);
    const spend = { today: {} as SpendByCategory, month: {} as SpendByCategory };
    for (const transaction of this.#transactions.values()) {
      if (transaction.amountCents >= 0 || transaction.transfer) continue;
      if (options.accountId !== undefined && transaction.accountId !== options.accountId) continue;
      const day = this.#day(transaction.createdAt);
      if (day.slice(0, 7) !== month) continue;
      const category = transaction.category ?? "uncategorised";
      spend.month[category] = (spend.month[category] ?? 0) - transaction.amountCents;
      if (day === today) {
        spend.today[category] = (spend.today[category] ?? 0) - transaction.amountCents;
      }
    }
    return spend;
  }

  /**
   * The last `days` days of the time zone, oldest first, ending today.
   *
   * @param days How many.
   * @returns Days as `YYYY-MM-DD`.
   */
  lastDays(days: number): string[] {
    const [year, month, day] = this.#day(this.#now()).split("-").map(Number);
    return Array.from(
      { length: days },
      (_, i) =>
        new Date(Date.UTC(year, month - 1, day - (days - 1 - i))).toISOString().slice(0, 10),
    );
  }

  /**
   * Spend per day: purchases (negative amounts, transfers excluded), held or settled, as
   * positive cents, for each of the last `days` days of the time zone.
   *
   * @param days How many days, ending today. Default 30.
   * @returns One figure per day, oldest first; days without spend are 0.
   */
  dailySpend(days = 30): DayFigure[] {
    const totals = new Map(this.lastDays(days).map((day) => [day, 0]));
    for (const transaction of this.#transactions.values()) {
      if (transaction.amountCents >= 0 || transaction.transfer) continue;
      const day = this.#day(transaction.createdAt);
      const total = totals.get(day);
      if (total !== undefined) totals.set(day, total - transaction.amountCents);
    }
    return [...totals].map(([day, cents]) => ({ day, cents }));
  }

  /**
   * Spend by category over the last `days` days: purchases (negative amounts, transfers
   * excluded), held or settled, as positive cents.
   *
   * @param days How many days, ending today. Default 30.
   * @returns Cents by category id; `uncategorised` when Up has none.
   */
  categorySpend(days = 30): SpendByCategory {
    const from = this.lastDays(days)[0];
    const spend: SpendByCategory = {};
    for (const transaction of this.#transactions.values()) {
      if (transaction.amountCents >= 0 || transaction.transfer) continue;
      if (this.#day(transaction.createdAt) < from) continue;
      const category = transaction.category ?? "uncategorised";
      spend[category] = (spend[category] ?? 0) - transaction.amountCents;
    }
    return spend;
  }

  /**
   * An account's balance at the end of each of the last `days` days, worked back from its
   * balance now by taking off every transaction made after that day. Only once anchored.
   *
   * @param accountId The account.
   * @param days How many days, ending today. Default 30.
   * @returns One figure per day, oldest first (today's is the balance now), or `null` before
   * the balance is known.
   */
  balanceHistory(accountId: string, days = 30): DayFigure[] | null {
    const now = this.accounts().find((account) => account.accountId === accountId)?.balanceCents;
    if (now === undefined || now === null) return null;
    const later = new Map<string, number>();
    for (const transaction of this.#transactions.values()) {
      if (transaction.accountId !== accountId) continue;
      const day = this.#day(transaction.createdAt);
      later.set(day, (later.get(day) ?? 0) + transaction.amountCents);
    }
    const daysAsc = this.lastDays(days);
    const figures: DayFigure[] = [];
    let balance = now;
    // Walk back from today: the end of day D is the end of D+1 minus what D+1 brought.
    for (let i = daysAsc.length - 1; i >= 0; i--) {
      figures.unshift({ day: daysAsc[i], cents: balance });
      balance -= later.get(daysAsc[i]) ?? 0;
    }
    return figures;
  }

  /**
   * The latest transactions, newest first.
   *
   * @param limit How many. Default 20.
   * @returns The transactions.
   */
  recent(limit = 20): PositionTransaction[] {
    return [...this.#transactions.values()]
      .sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id))
      .slice(0, limit);
  }

  /**
   * Compares with Up's balances. The first time an account is seen its balance anchors ours
   * (Up knows the opening balance, the transactions do not); a transaction created before that
   * moment and seen only later (history from a backfill) then moves the anchor, not the balance.
   * After that, any difference is drift: a transaction missed, or one not yet enriched.
   *
   * @param accounts What `GET /accounts` returned.
   * @returns The accounts whose balance differs from ours.
   */
  reconcile(accounts: AccountResource[]): Drift[] {
    const drifts: Drift[] = [];
    const byId = new Map(this.accounts().map((account) => [account.accountId, account]));
    for (const account of accounts) {
      this.#names.set(account.id, account.attributes.displayName);
      this.#types.set(account.id, account.attributes.accountType);
      const upCents = account.attributes.balance.valueInBaseUnits;
      const ours = byId.get(account.id);
      const known = (ours?.settledCents ?? 0) + (ours?.heldCents ?? 0);
      const anchor = this.#anchors.get(account.id);
      // Anchoring again is safe: what Up holds and this has not seen yet is older than the new
      // anchor when it arrives, so it moves the anchor, not the balance.
      if (anchor === undefined || this.#uncertain.delete(account.id)) {
        this.#anchors.set(account.id, upCents - known);
        this.#anchoredAt.set(account.id, this.#now());
        this.#drift.set(account.id, 0);
        continue;
      }
      const ourCents = anchor + known;
      this.#drift.set(account.id, upCents - ourCents);
      if (upCents !== ourCents) {
        drifts.push({ accountId: account.id, upCents, ourCents, driftCents: upCents - ourCents });
      }
    }
    return drifts;
  }
}

/**
 * The simulated bank behind the Up simulator: accounts, transactions, webhooks and delivery
 * logs, in memory. Balances are derived from the transactions, so they always agree.
 *
 * @module
 */
import type {
  AccountType,
  OwnershipType,
  TransactionStatus,
  WebhookDeliveryStatus,
} from "../types.ts";

/** Category ids the simulator knows, each with its parent (`null` for a parent category). */
export const SIM_CATEGORIES: Readonly<Record<string, string | null>> = {
  "good-life": null,
  "restaurants-and-cafes": "good-life",
  "takeaway": "good-life",
  "pubs-and-bars": "good-life",
  "home": null,
  "groceries": "home",
  "transport": null,
  "fuel": "transport",
  "public-transport": "transport",
  "personal": null,
  "technology": "personal",
};

/** An account of the simulated bank. */
export interface SimAccount {
  id: string;
  displayName: string;
  accountType: AccountType;
  ownershipType: OwnershipType;
  /** Balance before any transaction, in cents. */
  openingBalanceCents: number;
  createdAt: number;
}

/** A transaction of the simulated bank. */
export interface SimTransaction {
  id: string;
  accountId: string;
  status: TransactionStatus;
  description: string;
  rawText: string | null;
  message: string | null;
  amountCents: number;
  /** A child category id of {@linkcode SIM_CATEGORIES}, or `null`. */
  categoryId: string | null;
  /** Whether it was ever `HELD` (then it keeps its hold info once settled). */
  wasHeld: boolean;
  createdAt: number;
  settledAt: number | null;
}

/** A webhook registered with the simulated bank. */
export interface SimWebhook {
  id: string;
  url: string;
  description: string | null;
  secretKey: string;
  createdAt: number;
}

/** One attempt to deliver an event to a webhook. */
export interface SimDeliveryLog {
  id: string;
  webhookId: string;
  eventId: string;
  requestBody: string;
  response: { statusCode: number; body: string } | null;
  deliveryStatus: WebhookDeliveryStatus;
  createdAt: number;
}

/** Input of {@linkcode SimulatedBank.addTransaction}. */
export interface NewTransaction {
  /** Signed amount in cents: negative for a purchase. */
  amountCents: number;
  description: string;
  /** A child category id, or `null`. Default `null`. */
  categoryId?: string | null;
  /** Default the first transactional account. */
  accountId?: string;
  /** Default `HELD`. */
  status?: TransactionStatus;
  rawText?: string | null;
  message?: string | null;
  /** Default the bank's clock. */
  createdAt?: number;
}

/** Options for {@linkcode SimulatedBank}. */
export interface SimulatedBankOptions {
  /** The clock, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** How many settled transactions to seed the spending account with. Default 25. */
  seedTransactions?: number;
}

const MERCHANTS: ReadonlyArray<[string, string, string]> = [
  ["Campos Coffee", "CAMPOS COFFEE NEWTOWN", "restaurants-and-cafes"],
  ["Woolworths", "WOOLWORTHS 1234 SYDNEY", "groceries"],
  ["Opal", "TRANSPORTFORNSW OPAL", "public-transport"],
  ["Menulog", "MENULOG PTY LTD", "takeaway"],
  ["Ampol", "AMPOL NEWTOWN", "fuel"],
  ["The Union Hotel", "UNION HOTEL NEWTOWN", "pubs-and-bars"],
  ["JB Hi-Fi", "JB HI FI BROADWAY", "technology"],
];

/** Checks a category id; returns its parent. */
function requireCategory(categoryId: string): string | null {
  if (!(categoryId in SIM_CATEGORIES)) {
    throw new RangeError(
      `Cannot use category: "${categoryId}" is unknown, expected one of ${
        Object.keys(SIM_CATEGORIES).join(", ")
      }`,
    );
  }
  return SIM_CATEGORIES[categoryId];
}

/** The in-memory state of the simulator. */
export class SimulatedBank {
  readonly accounts: SimAccount[] = [];
  /** Every transaction ever made, including deleted ones' absence: deleted ones are removed. */
  readonly transactions: SimTransaction[] = [];
  /** Oldest first. */
  readonly webhooks: SimWebhook[] = [];
  /** Oldest first. */
  readonly logs: SimDeliveryLog[] = [];
  readonly #now: () => number;

  /**
   * @param options The clock and the number of seeded transactions.
   */
  constructor(options: SimulatedBankOptions = {}) {
    this.#now = options.now ?? Date.now;
    const created = this.#now() - 90 * 24 * 3_600_000;
    this.accounts.push(
      {
        id: crypto.randomUUID(),
        displayName: "Spending",
        accountType: "TRANSACTIONAL",
        ownershipType: "INDIVIDUAL",
        openingBalanceCents: 250_000,
        createdAt: created,
      },
      {
        id: crypto.randomUUID(),
        displayName: "Savings",
        accountType: "SAVER",
        ownershipType: "INDIVIDUAL",
        openingBalanceCents: 1_000_000,
        createdAt: created + 1000,
      },
    );
    const seeds = options.seedTransactions ?? 25;
    for (let i = seeds; i > 0; i--) {
      const [description, rawText, categoryId] = MERCHANTS[i % MERCHANTS.length];
      const at = this.#now() - i * 6 * 3_600_000;
      const transaction = this.addTransaction({
        amountCents: -((i * 737) % 9000 + 350),
        description,
        rawText,
        categoryId,
        status: "SETTLED",
        createdAt: at,
      });
      transaction.settledAt = at + 3_600_000;
    }
  }

  /** The clock. */
  now(): number {
    return this.#now();
  }

  /**
   * The current balance of an account: opening balance plus every transaction.
   *
   * @param accountId The account.
   * @returns The balance in cents.
   */
  balanceOf(accountId: string): number {
    const account = this.accounts.find((candidate) => candidate.id === accountId);
    if (account === undefined) throw new RangeError(`Cannot get balance: no account ${accountId}`);
    return this.transactions
      .filter((transaction) => transaction.accountId === accountId)
      .reduce((sum, transaction) => sum + transaction.amountCents, account.openingBalanceCents);
  }

  /**
   * Transactions, newest first.
   *
   * @returns A new array.
   */
  transactionsNewestFirst(): SimTransaction[] {
    return [...this.transactions].sort((a, b) =>
      b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)
    );
  }

  /**
   * Records a new transaction.
   *
   * @param input Amount, description, category, account and status.
   * @returns The transaction.
   * @throws {RangeError} If the account or the category is unknown, or the amount is not a
   * non-zero whole number of cents.
   */
  addTransaction(input: NewTransaction): SimTransaction {
    const accountId = input.accountId ??
      this.accounts.find((account) => account.accountType === "TRANSACTIONAL")!.id;
    if (!this.accounts.some((account) => account.id === accountId)) {
      throw new RangeError(`Cannot create transaction: no account ${accountId}`);
    }
    if (!Number.isInteger(input.amountCents) || input.amountCents === 0) {
      throw new RangeError(
        `Cannot create transaction: amount is ${input.amountCents} cents, expected a non-zero whole number`,
      );
    }
    const description = input.description.trim();
    if (description === "") {
      throw new RangeError("Cannot create transaction: the description is empty");
    }
    const categoryId = input.categoryId ?? null;
    if (categoryId !== null) {
      if (requireCategory(categoryId) === null) {
        throw new RangeError(
          `Cannot create transaction: "${categoryId}" is a parent category, pick one of its children`,
        );
      }
    }
    const status = input.status ?? "HELD";
    const createdAt = input.createdAt ?? this.#now();
    const transaction: SimTransaction = {
      id: crypto.randomUUID(),
      accountId,
      status,
      description,
      rawText: input.rawText ?? description.toUpperCase(),
      message: input.message ?? null,
      amountCents: input.amountCents,
      categoryId,
      wasHeld: status === "HELD",
      createdAt,
      settledAt: status === "SETTLED" ? createdAt : null,
    };
    this.transactions.push(transaction);
    return transaction;
  }

  /**
   * Finds a transaction; `"latest"` means the newest `HELD` one.
   *
   * @param id A transaction id, or `"latest"`.
   * @returns The transaction, or `undefined`.
   */
  findTransaction(id: string): SimTransaction | undefined {
    if (id === "latest") {
      return this.transactionsNewestFirst().find((transaction) => transaction.status === "HELD");
    }
    return this.transactions.find((transaction) => transaction.id === id);
  }

  /**
   * Settles a `HELD` transaction.
   *
   * @param transaction The transaction.
   * @throws {RangeError} If it is already settled.
   */
  settle(transaction: SimTransaction): void {
    if (transaction.status !== "HELD") {
      throw new RangeError(`Cannot settle transaction ${transaction.id}: it is already SETTLED`);
    }
    transaction.status = "SETTLED";
    transaction.settledAt = this.#now();
  }

  /**
   * Deletes a `HELD` transaction, as when a hotel deposit is returned.
   *
   * @param transaction The transaction.
   * @throws {RangeError} If it is settled: Up deletes only held transactions.
   */
  remove(transaction: SimTransaction): void {
    if (transaction.status !== "HELD") {
      throw new RangeError(
        `Cannot delete transaction ${transaction.id}: it is SETTLED, only HELD transactions can be deleted`,
      );
    }
    this.transactions.splice(this.transactions.indexOf(transaction), 1);
  }

  /**
   * Registers a webhook with a fresh secret.
   *
   * @param url Where to deliver.
   * @param description Optional description.
   * @returns The webhook.
   */
  addWebhook(url: string, description: string | null): SimWebhook {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const bytes = crypto.getRandomValues(new Uint8Array(64));
    const secretKey = Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join("");
    const webhook: SimWebhook = {
      id: crypto.randomUUID(),
      url,
      description,
      secretKey,
      createdAt: this.#now(),
    };
    this.webhooks.push(webhook);
    return webhook;
  }

  /**
   * Finds a webhook.
   *
   * @param id The webhook id.
   * @returns The webhook, or `undefined`.
   */
  findWebhook(id: string): SimWebhook | undefined {
    return this.webhooks.find((webhook) => webhook.id === id);
  }

  /**
   * Deletes a webhook and its logs.
   *
   * @param id The webhook id.
   * @returns Whether it existed.
   */
  removeWebhook(id: string): boolean {
    const index = this.webhooks.findIndex((webhook) => webhook.id === id);
    if (index < 0) return false;
    this.webhooks.splice(index, 1);
    for (let i = this.logs.length - 1; i >= 0; i--) {
      if (this.logs[i].webhookId === id) this.logs.splice(i, 1);
    }
    return true;
  }

  /**
   * Records a delivery attempt, unless its webhook was deleted meanwhile.
   *
   * @param log The attempt, without id.
   */
  addLog(log: Omit<SimDeliveryLog, "id">): void {
    if (this.findWebhook(log.webhookId) === undefined) return;
    this.logs.push({ id: crypto.randomUUID(), ...log });
  }
}

/**
 * Parses an amount such as `-12.50` into cents.
 *
 * @param value A decimal with at most two decimals, or a number.
 * @returns The amount in cents.
 * @throws {RangeError} If it is not such an amount.
 *
 * @example
 * ```ts
 * import { parseAmount } from "./bank.ts";
 * if (parseAmount("-12.50") !== -1250) throw new Error("unexpected");
 * ```
 */
export function parseAmount(value: string | number): number {
  const text = String(value).trim();
  if (!/^[-+]?\d+(\.\d{1,2})?$/.test(text)) {
    throw new RangeError(
      `Cannot parse amount: "${text}" is not a decimal amount such as -12.50`,
    );
  }
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = text.replace(/^[-+]/, "").split(".");
  const cents = Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  return negative ? -cents : cents;
}

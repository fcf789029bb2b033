/**
 * The simulated bank behind the Up simulator: accounts, transactions, webhooks and delivery
 * logs. Balances are derived from the transactions, so they always agree. With a state file
 * the accounts, transactions and webhooks survive a restart (delivery logs do not).
 *
 * @module
 */
import { NewerJsonFileError } from "../runtime/versioned_json.ts";
import { createOwnerOnly } from "../runtime/owner_only.ts";
import type {
  AccountType,
  OwnershipType,
  TransactionStatus,
  WebhookDeliveryStatus,
} from "../up/types.ts";

/** Category ids the simulator knows, each with its parent (`null` for a parent category). */
export const SIM_CATEGORIES: Readonly<Record<string, string | null>> = {
  "good-life": null,
  "restaurants-and-cafes": "good-life",
  "takeaway": "good-life",
  "pubs-and-bars": "good-life",
  "home": null,
  "groceries": "home",
  "rent-and-mortgage": "home",
  "utilities": "home",
  "transport": null,
  "fuel": "transport",
  "public-transport": "transport",
  "personal": null,
  "technology": "personal",
};

/** The names Up's app shows for {@linkcode SIM_CATEGORIES}. */
export const SIM_CATEGORY_NAMES: Readonly<Record<string, string>> = {
  "good-life": "Good Life",
  "restaurants-and-cafes": "Restaurants & Cafes",
  "takeaway": "Takeaway",
  "pubs-and-bars": "Pubs & Bars",
  "home": "Home",
  "groceries": "Groceries",
  "rent-and-mortgage": "Rent & Mortgage",
  "utilities": "Utilities",
  "transport": "Transport",
  "fuel": "Fuel",
  "public-transport": "Public Transport",
  "personal": "Personal",
  "technology": "Technology",
};

/** An account of the simulated bank. */
export interface SimAccount {
  /** The account id (a UUID), as the API shows it. */
  id: string;
  /** The account's name, such as `Spending`. */
  displayName: string;
  /** `TRANSACTIONAL`, `SAVER` or `HOME_LOAN`. */
  accountType: AccountType;
  /** `INDIVIDUAL` or `JOINT`. */
  ownershipType: OwnershipType;
  /** Balance before any transaction, in cents. */
  openingBalanceCents: number;
  /** When it was opened, epoch milliseconds. */
  createdAt: number;
}

/** A transaction of the simulated bank. */
export interface SimTransaction {
  /** The transaction id (a UUID). */
  id: string;
  /** The account it belongs to. */
  accountId: string;
  /** `HELD` until settled, then `SETTLED`. */
  status: TransactionStatus;
  /** The short description, usually the merchant. */
  description: string;
  /** The text the merchant sent, or `null` when none. */
  rawText: string | null;
  /** The customer's note, or `null` when none. */
  message: string | null;
  /** Signed amount in cents: negative for a purchase. */
  amountCents: number;
  /** A child category id of {@linkcode SIM_CATEGORIES}, or `null` (income, transfers). */
  categoryId: string | null;
  /** For a transfer between the customer's own accounts: the other account. */
  transferAccountId?: string | null;
  /** Whether it was ever `HELD` (then it keeps its hold info once settled). */
  wasHeld: boolean;
  /** When it was made, epoch milliseconds. */
  createdAt: number;
  /** When it settled, epoch milliseconds, or `null` while it is held. */
  settledAt: number | null;
}

/** A webhook registered with the simulated bank. */
export interface SimWebhook {
  /** The webhook id (a UUID). */
  id: string;
  /** Where events are delivered. */
  url: string;
  /** The description given at registration, or `null`. */
  description: string | null;
  /** The signing secret, returned once at creation. */
  secretKey: string;
  /** When it was registered, epoch milliseconds. */
  createdAt: number;
}

/** One attempt to deliver an event to a webhook. */
export interface SimDeliveryLog {
  /** The log entry's id (a UUID). */
  id: string;
  /** The webhook it was delivered to. */
  webhookId: string;
  /** The event delivered. */
  eventId: string;
  /** The exact body sent. */
  requestBody: string;
  /** The response, or `null` when none arrived. */
  response: { statusCode: number; body: string } | null;
  /** `DELIVERED`, `BAD_RESPONSE_CODE` or `UNDELIVERABLE`. */
  deliveryStatus: WebhookDeliveryStatus;
  /** When the attempt was made, epoch milliseconds. */
  createdAt: number;
}

/** Input of {@linkcode SimulatedBank.addTransaction}. */
export interface NewTransaction {
  /** Signed amount in cents: negative for a purchase. */
  amountCents: number;
  /** The short description, usually the merchant. */
  description: string;
  /** A child category id, or `null`. Default `null`; income (a positive amount) has none. */
  categoryId?: string | null;
  /** Default the first transactional account. */
  accountId?: string;
  /** Default `HELD` for a payment, `SETTLED` for income. */
  status?: TransactionStatus;
  /** The text the merchant sent. Default `null`. */
  rawText?: string | null;
  /** The customer's note. Default `null`. */
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
  /**
   * Also seed the month before the seeded purchases with a life: two pays, rent, a power bill,
   * groceries, transport and two transfers to savings (27 transactions), so that a month of
   * balances and spend has something to show. Default `false`.
   */
  seedMonth?: boolean;
  /**
   * A JSON file that keeps accounts, transactions and webhooks (with their secrets) across
   * restarts, written owner-only after every change; read at start when it exists (then
   * nothing is seeded). Default none: all in memory.
   */
  statePath?: string;
}

/** Input of {@linkcode SimulatedBank.transfer}. */
export interface NewTransfer {
  /** Positive amount in cents moved from one account to the other. */
  amountCents: number;
  /** The account the money leaves. */
  fromAccountId: string;
  /** The account the money arrives in. */
  toAccountId: string;
  /** Default the bank's clock. */
  createdAt?: number;
}

/** What a state file holds. */
interface SimState {
  version: 1;
  accounts: SimAccount[];
  transactions: SimTransaction[];
  webhooks: SimWebhook[];
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

/** The state of the simulator. */
export class SimulatedBank {
  /** Every account, in the order the API lists them. */
  readonly accounts: SimAccount[] = [];
  /** Every transaction ever made, including deleted ones' absence: deleted ones are removed. */
  readonly transactions: SimTransaction[] = [];
  /** Oldest first. */
  readonly webhooks: SimWebhook[] = [];
  /** Oldest first. */
  readonly logs: SimDeliveryLog[] = [];
  readonly #now: () => number;
  readonly #statePath: string | undefined;
  #loading = false;

  /**
   * Makes the bank: loaded from the state file when it exists, else seeded.
   *
   * @param options The clock, the number of seeded transactions and the state file.
   * @throws {SyntaxError} If the state file is not a simulator state.
   */
  constructor(options: SimulatedBankOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#statePath = options.statePath;
    if (this.#statePath !== undefined && this.#load(this.#statePath)) return;
    this.#loading = true;
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
    if (options.seedMonth) this.#seedMonth();
    this.#loading = false;
    this.save();
  }

  /** A month of life before the seeded purchases; see `seedMonth`. */
  #seedMonth(): void {
    const day = 24 * 3_600_000;
    const now = this.#now();
    const [spending, savings] = this.accounts;
    const settled = (days: number, cents: number, description: string, categoryId?: string) =>
      this.addTransaction({
        amountCents: cents,
        description,
        categoryId: categoryId ?? null,
        status: "SETTLED",
        createdAt: now - days * day,
      });
    settled(27.6, 385_000, "Salary");
    settled(13.6, 385_000, "Salary");
    settled(26.2, -220_000, "Rent", "rent-and-mortgage");
    settled(12.2, -220_000, "Rent", "rent-and-mortgage");
    settled(21.4, -13_480, "Origin Energy", "utilities");
    for (const days of [25.3, 22.1, 18.4, 15.2, 11.3, 8.1]) {
      settled(days, -Math.round(6_000 + days * 311), "Harris Farm Markets", "groceries");
    }
    for (const days of [24.7, 20.5, 16.8, 10.6, 9.4]) {
      settled(days, -1_840, "Opal", "public-transport");
    }
    settled(19.9, -8_950, "Ampol", "fuel");
    settled(17.3, -24_900, "JB Hi-Fi", "technology");
    settled(14.8, -6_420, "The Union Hotel", "pubs-and-bars");
    for (const days of [27.5, 13.5]) {
      this.transfer({
        amountCents: 50_000,
        fromAccountId: spending.id,
        toAccountId: savings.id,
        createdAt: now - days * day,
      });
    }
  }

  /** Where the state is kept, or `undefined` when in memory only. */
  get statePath(): string | undefined {
    return this.#statePath;
  }

  #load(path: string): boolean {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
    if (text.trim() === "") return false;
    let state: SimState | undefined;
    try {
      state = JSON.parse(text);
    } catch {
      state = undefined;
    }
    if (typeof state?.version === "number" && state.version > 1) {
      throw new NewerJsonFileError(path, state.version, 1, "simulator state");
    }
    if (state?.version !== 1 || !Array.isArray(state.accounts) || state.accounts.length === 0) {
      throw new SyntaxError(
        `Cannot read the simulator's state: ${path} is not a simulator state file, move it away to start afresh`,
      );
    }
    this.accounts.push(...state.accounts);
    this.transactions.push(...state.transactions);
    this.webhooks.push(...state.webhooks);
    return true;
  }

  /**
   * Writes the state file (owner-only, replaced atomically), when there is one. Called after
   * every change; call it after changing a record directly.
   */
  save(): void {
    if (this.#statePath === undefined || this.#loading) return;
    const state: SimState = {
      version: 1,
      accounts: this.accounts,
      transactions: this.transactions,
      webhooks: this.webhooks,
    };
    const temporary = `${this.#statePath}.tmp`;
    createOwnerOnly(temporary);
    Deno.writeTextFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
    Deno.renameSync(temporary, this.#statePath);
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
    if (categoryId !== null && input.amountCents > 0) {
      throw new RangeError(
        `Cannot create transaction: a positive amount is income, which Up does not categorise; leave out the category "${categoryId}"`,
      );
    }
    if (categoryId !== null) {
      if (requireCategory(categoryId) === null) {
        throw new RangeError(
          `Cannot create transaction: "${categoryId}" is a parent category, pick one of its children`,
        );
      }
    }
    // Up holds card payments; money coming in arrives settled.
    const status = input.status ?? (input.amountCents > 0 ? "SETTLED" : "HELD");
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
      transferAccountId: null,
      wasHeld: status === "HELD",
      createdAt,
      settledAt: status === "SETTLED" ? createdAt : null,
    };
    this.transactions.push(transaction);
    this.save();
    return transaction;
  }

  /**
   * Moves money between two of the customer's accounts, as Up does: two settled transactions,
   * one in each account, each naming the other account as its `transferAccount`.
   *
   * @param input The amount and the two accounts.
   * @returns The outgoing and the incoming transaction.
   * @throws {RangeError} If an account is unknown, both are the same, or the amount is not a
   * positive whole number of cents.
   */
  transfer(input: NewTransfer): [SimTransaction, SimTransaction] {
    const from = this.accounts.find((account) => account.id === input.fromAccountId);
    const to = this.accounts.find((account) => account.id === input.toAccountId);
    if (from === undefined || to === undefined) {
      throw new RangeError(
        `Cannot transfer: no account ${
          from === undefined ? input.fromAccountId : input.toAccountId
        }`,
      );
    }
    if (from.id === to.id) {
      throw new RangeError("Cannot transfer: both accounts are the same, pick two");
    }
    if (!Number.isInteger(input.amountCents) || input.amountCents <= 0) {
      throw new RangeError(
        `Cannot transfer: amount is ${input.amountCents} cents, expected a positive whole number`,
      );
    }
    const createdAt = input.createdAt ?? this.#now();
    const leg = (account: SimAccount, other: SimAccount, cents: number, text: string) => {
      const transaction: SimTransaction = {
        id: crypto.randomUUID(),
        accountId: account.id,
        status: "SETTLED",
        description: text,
        rawText: null,
        message: null,
        amountCents: cents,
        categoryId: null,
        transferAccountId: other.id,
        wasHeld: false,
        createdAt,
        settledAt: createdAt,
      };
      this.transactions.push(transaction);
      return transaction;
    };
    const out = leg(from, to, -input.amountCents, `Transfer to ${to.displayName}`);
    const back = leg(to, from, input.amountCents, `Transfer from ${from.displayName}`);
    this.save();
    return [out, back];
  }

  /**
   * Finds an account by id or by display name (any case).
   *
   * @param idOrName The id, or a name such as `Savings`.
   * @returns The account, or `undefined`.
   */
  findAccount(idOrName: string): SimAccount | undefined {
    const name = idOrName.trim().toLowerCase();
    return this.accounts.find((account) => account.id === idOrName) ??
      this.accounts.find((account) => account.displayName.toLowerCase() === name);
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
    this.save();
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
    this.save();
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
    this.save();
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
    this.save();
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

/**
 * The Up simulator: a Hono app that answers the Up API's accounts, transactions, util and webhook
 * endpoints under `/api/v1` with the spec's JSON:API shapes, delivers signed events to
 * registered webhooks the way Up does, and takes orders from a control API under `/__sim`
 * (create, settle and delete transactions; make the next responses fail).
 *
 * @module
 */
/**
 * Types of Hono, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import type { ErrorObject, WebhookEventType } from "../up/types.ts";
import { parseAmount, SIM_CATEGORIES, type SimTransaction, SimulatedBank } from "./bank.ts";
import { WebhookDeliverer } from "./delivery.ts";
import { categoryForDescription } from "./merchant_category.ts";
import { buildWebhookEvent, encodeWebhookEvent } from "./events.ts";
import {
  accountResource,
  categoryResource,
  deliveryLogResource,
  transactionResource,
  webhookResource,
} from "./resources.ts";

/** The token the simulator accepts unless told otherwise. A fake, for local use only. */
export const DEFAULT_SIM_TOKEN = "up:sim:local-development-token";

/** Where the simulated API lives on the simulator's origin. */
export const SIM_API_PATH = "/api/v1";

/** Where the control API lives on the simulator's origin. */
export const SIM_CONTROL_PATH = "/__sim";

/** Options for {@linkcode createUpSimulator}. */
export interface UpSimulatorOptions {
  /** The bearer token to accept. Default {@linkcode DEFAULT_SIM_TOKEN}. */
  token?: string;
  /** The clock, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** The fetch used to deliver webhook events. Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Per-delivery timeout in milliseconds. Default 30 000, as Up. */
  deliveryTimeoutMs?: number;
  /** Delays before each delivery retry, in milliseconds. Default 1 s, 5 s, 30 s, 2 min, 10 min. */
  retryDelaysMs?: readonly number[];
  /** Gives up on a delivery once this many milliseconds passed since its first attempt.
   * Default none (the schedule alone bounds the retries). */
  giveUpMs?: number;
  /** Settled transactions to seed the spending account with. Default 25. */
  seedTransactions?: number;
  /** Also seed a month of pay, rent, bills and transfers before them. Default `false`. */
  seedMonth?: boolean;
  /**
   * A JSON file keeping accounts, transactions and webhooks across restarts (owner-only).
   * Default none: the state lives in memory and is gone when the simulator stops.
   */
  statePath?: string;
  /** Requests allowed per clock hour before 429s. Default 1000, as Up. */
  rateLimitPerHour?: number;
  /** Most webhooks at once. Default 10, as Up. */
  webhookLimit?: number;
}

/** A fault to answer with instead of the real response. */
export interface SimFault {
  /** 429, or a 5xx status. */
  status: number;
  /** `X-RateLimit-Remaining` to send with a 429. Default the real count. */
  rateLimitRemaining?: number;
}

/** A running simulator's handles. */
export interface UpSimulator {
  /** The Hono app; pass `app.fetch` to `Deno.serve`, or call `app.request()`. */
  app: Hono;
  /** The simulated bank, for inspection. */
  bank: SimulatedBank;
  /** The accepted token. */
  token: string;
  /** Makes the next `count` API responses the given fault. */
  injectFaults(fault: SimFault, count?: number): void;
  /** Waits until no webhook delivery is in flight or pending a retry. */
  idle(): Promise<void>;
  /**
   * Purges delivery logs, as Up may do at any time: those of one webhook (default every one),
   * created before an instant (default all). Returns how many were removed.
   */
  purgeLogs(options?: { webhookId?: string; before?: number }): number;
  /** Cancels pending deliveries. */
  close(): Promise<void>;
}

const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 100;

const TITLES: Record<number, string> = {
  400: "Invalid Request Parameter",
  401: "Not Authorized",
  404: "Not Found",
  409: "Conflict",
  422: "Invalid Attribute",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const UNAUTHORIZED_DETAIL =
  "The request was not authenticated because no valid credential was found in the Authorization header, or the Authorization header was not present.";

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly source?: ErrorObject["source"],
  ) {
    super(detail);
  }
}

function errorBody(status: number, detail: string, source?: ErrorObject["source"]) {
  const error: ErrorObject = { status: String(status), title: TITLES[status] ?? "Error", detail };
  if (source) error.source = source;
  return { errors: [error] };
}

function apiBase(c: Context): string {
  return new URL(c.req.url).origin + SIM_API_PATH;
}

function encodeCursor(id: string): string {
  return btoa(JSON.stringify([id])).replace(/=+$/, "");
}

function decodeCursor(cursor: string, parameter: string): string {
  try {
    const value = JSON.parse(atob(cursor));
    if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  } catch {
    // fall through
  }
  throw new HttpProblem(400, `The cursor in ${parameter} is not valid.`, { parameter });
}

function readPageSize(c: Context): number {
  const raw = c.req.query("page[size]");
  if (raw === undefined) return DEFAULT_PAGE_SIZE;
  const size = Number(raw);
  if (!/^\d+$/.test(raw) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new HttpProblem(
      400,
      `page[size] must be a whole number from 1 to ${MAX_PAGE_SIZE}.`,
      { parameter: "page[size]" },
    );
  }
  return size;
}

/** Slices an ordered list into a page, with absolute `prev` and `next` links that keep filters. */
function paginate<T extends { id: string }>(c: Context, items: T[]) {
  const size = readPageSize(c);
  const after = c.req.query("page[after]");
  const before = c.req.query("page[before]");
  let start = 0;
  let end = Math.min(items.length, size);
  const indexOf = (cursor: string, parameter: string) => {
    const id = decodeCursor(cursor, parameter);
    const index = items.findIndex((item) => item.id === id);
    if (index < 0) {
      throw new HttpProblem(400, `The cursor in ${parameter} is not valid.`, { parameter });
    }
    return index;
  };
  if (after !== undefined) {
    start = indexOf(after, "page[after]") + 1;
    end = Math.min(items.length, start + size);
  } else if (before !== undefined) {
    end = indexOf(before, "page[before]");
    start = Math.max(0, end - size);
  }
  const link = (parameter: string, cursor: string) => {
    const url = new URL(c.req.url);
    url.searchParams.delete("page[after]");
    url.searchParams.delete("page[before]");
    url.searchParams.set(parameter, cursor);
    url.searchParams.set("page[size]", String(size));
    return url.toString();
  };
  return {
    data: items.slice(start, end),
    links: {
      prev: start > 0 ? link("page[before]", encodeCursor(items[start].id)) : null,
      next: end < items.length ? link("page[after]", encodeCursor(items[end - 1].id)) : null,
    },
  };
}

function readInstant(c: Context, parameter: string): number | undefined {
  const raw = c.req.query(parameter);
  if (raw === undefined) return undefined;
  const value = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(raw) || Number.isNaN(value)) {
    throw new HttpProblem(400, `${parameter} must be an RFC 3339 date-time.`, { parameter });
  }
  return value;
}

function filterTransactions(c: Context, transactions: SimTransaction[]): SimTransaction[] {
  const status = c.req.query("filter[status]");
  if (status !== undefined && status !== "HELD" && status !== "SETTLED") {
    throw new HttpProblem(400, "filter[status] must be HELD or SETTLED.", {
      parameter: "filter[status]",
    });
  }
  const since = readInstant(c, "filter[since]");
  const until = readInstant(c, "filter[until]");
  const category = c.req.query("filter[category]");
  if (category !== undefined && !(category in SIM_CATEGORIES)) {
    throw new HttpProblem(404, `The category "${category}" does not exist.`);
  }
  const tag = c.req.query("filter[tag]");
  return transactions.filter((transaction) =>
    (status === undefined || transaction.status === status) &&
    (since === undefined || transaction.createdAt >= since) &&
    (until === undefined || transaction.createdAt < until) &&
    (category === undefined || transaction.categoryId === category ||
      (transaction.categoryId !== null && SIM_CATEGORIES[transaction.categoryId] === category)) &&
    tag === undefined
  );
}

async function readJson(c: Context): Promise<Record<string, unknown>> {
  try {
    const value = await c.req.json();
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // fall through
  }
  throw new HttpProblem(400, "The request body must be a JSON object.", { pointer: "" });
}

/**
 * Creates an Up simulator.
 *
 * @param options Token, clock, delivery fetch, retry schedule, seed and limits.
 * @returns The app and its handles; call `close()` when done.
 *
 * @example
 * ```ts
 * import { createUpSimulator } from "./app.ts";
 * const sim = createUpSimulator({ token: "up:sim:t" });
 * const response = await sim.app.request("/api/v1/util/ping", {
 *   headers: { Authorization: "Bearer up:sim:t" },
 * });
 * if (response.status !== 200) throw new Error("unexpected");
 * await sim.close();
 * ```
 */
export function createUpSimulator(options: UpSimulatorOptions = {}): UpSimulator {
  const token = options.token ?? DEFAULT_SIM_TOKEN;
  const now = options.now ?? Date.now;
  const bank = new SimulatedBank({
    now,
    seedTransactions: options.seedTransactions,
    seedMonth: options.seedMonth,
    statePath: options.statePath,
  });
  const rateLimit = options.rateLimitPerHour ?? 1000;
  const webhookLimit = options.webhookLimit ?? 10;
  const faults: SimFault[] = [];
  let bucketHour = -1;
  let used = 0;

  const deliverer = new WebhookDeliverer({
    fetch: options.fetch,
    timeoutMs: options.deliveryTimeoutMs,
    retryDelaysMs: options.retryDelaysMs,
    giveUpMs: options.giveUpMs,
    onAttempt(target, attempt) {
      bank.addLog({
        webhookId: target.webhookId,
        eventId: target.eventId,
        requestBody: target.body,
        response: attempt.response,
        deliveryStatus: attempt.deliveryStatus,
        createdAt: now(),
      });
    },
    shouldRetry: (target) => bank.findWebhook(target.webhookId) !== undefined,
  });

  /** Sends one event per webhook (each webhook gets its own event id); returns the ids. */
  /** Builds one event for one webhook and hands it to the deliverer; returns the event. */
  function send(
    webhook: (typeof bank.webhooks)[number],
    eventType: WebhookEventType,
    options: { transactionId?: string; baseUrl: string },
  ) {
    const event = buildWebhookEvent(eventType, {
      webhookId: webhook.id,
      transactionId: options.transactionId,
      baseUrl: options.baseUrl,
      createdAt: now(),
    });
    deliverer.deliver({
      webhookId: webhook.id,
      url: webhook.url,
      secretKey: webhook.secretKey,
      eventId: event.data.id,
      body: encodeWebhookEvent(event),
    });
    return event;
  }

  function fire(eventType: WebhookEventType, transactionId: string, baseUrl: string) {
    return bank.webhooks.map((webhook) => {
      const event = send(webhook, eventType, { transactionId, baseUrl });
      return { webhookId: webhook.id, eventId: event.data.id };
    });
  }

  const requireToken: MiddlewareHandler = async function requireToken(c, next) {
    const header = c.req.header("Authorization") ?? "";
    if (header !== `Bearer ${token}`) {
      return c.json(errorBody(401, UNAUTHORIZED_DETAIL), 401);
    }
    await next();
  };

  const rateLimitAndFaults: MiddlewareHandler = async function rateLimitAndFaults(c, next) {
    const hour = Math.floor(now() / 3_600_000);
    if (hour !== bucketHour) {
      bucketHour = hour;
      used = 0;
    }
    const fault = faults.shift();
    if (fault !== undefined) {
      if (fault.status === 429) {
        const remaining = fault.rateLimitRemaining ?? Math.max(0, rateLimit - used);
        c.header("X-RateLimit-Remaining", String(remaining));
        return c.json(errorBody(429, "Too many requests, slow down."), 429);
      }
      return c.json(
        errorBody(fault.status, "The simulator was told to fail this request."),
        fault.status as 500,
      );
    }
    if (used >= rateLimit) {
      c.header("X-RateLimit-Remaining", "0");
      return c.json(errorBody(429, "Rate limit reached for this hour."), 429);
    }
    used++;
    c.header("X-RateLimit-Remaining", String(rateLimit - used));
    await next();
  };

  const api = new Hono();
  api.use("*", requireToken, rateLimitAndFaults);

  api.get("/util/ping", function ping(c) {
    return c.json({ meta: { id: crypto.randomUUID(), statusEmoji: "⚡️" } });
  });

  api.get("/accounts", function listAccounts(c) {
    const accountType = c.req.query("filter[accountType]");
    const ownershipType = c.req.query("filter[ownershipType]");
    const accounts = bank.accounts.filter((account) =>
      (accountType === undefined || account.accountType === accountType) &&
      (ownershipType === undefined || account.ownershipType === ownershipType)
    );
    const page = paginate(c, accounts);
    const baseUrl = apiBase(c);
    return c.json({
      data: page.data.map((account) =>
        accountResource(account, { balanceCents: bank.balanceOf(account.id), baseUrl })
      ),
      links: page.links,
    });
  });

  api.get("/accounts/:id", function getAccount(c) {
    const account = bank.accounts.find((candidate) => candidate.id === c.req.param("id"));
    if (account === undefined) throw new HttpProblem(404, "The requested resource does not exist.");
    return c.json({
      data: accountResource(account, {
        balanceCents: bank.balanceOf(account.id),
        baseUrl: apiBase(c),
      }),
    });
  });

  api.get("/accounts/:id/transactions", function listAccountTransactions(c) {
    const accountId = c.req.param("id");
    if (!bank.accounts.some((account) => account.id === accountId)) {
      throw new HttpProblem(404, "The requested resource does not exist.");
    }
    const all = bank.transactionsNewestFirst().filter((t) => t.accountId === accountId);
    const page = paginate(c, filterTransactions(c, all));
    const baseUrl = apiBase(c);
    return c.json({
      data: page.data.map((transaction) => transactionResource(transaction, baseUrl)),
      links: page.links,
    });
  });

  api.get("/categories", function listCategories(c) {
    const parent = c.req.query("filter[parent]");
    if (parent !== undefined && !(parent in SIM_CATEGORIES)) {
      throw new HttpProblem(404, `The category "${parent}" does not exist.`);
    }
    const baseUrl = apiBase(c);
    const ids = Object.keys(SIM_CATEGORIES).filter((id) =>
      parent === undefined || SIM_CATEGORIES[id] === parent
    );
    return c.json({ data: ids.map((id) => categoryResource(id, baseUrl)) });
  });

  api.get("/categories/:id", function getCategory(c) {
    const id = c.req.param("id");
    if (!(id in SIM_CATEGORIES)) {
      throw new HttpProblem(404, "The requested resource does not exist.");
    }
    return c.json({ data: categoryResource(id, apiBase(c)) });
  });

  api.get("/transactions", function listTransactions(c) {
    const page = paginate(c, filterTransactions(c, bank.transactionsNewestFirst()));
    const baseUrl = apiBase(c);
    return c.json({
      data: page.data.map((transaction) => transactionResource(transaction, baseUrl)),
      links: page.links,
    });
  });

  api.get("/transactions/:id", function getTransaction(c) {
    const transaction = bank.transactions.find((candidate) => candidate.id === c.req.param("id"));
    if (transaction === undefined) {
      throw new HttpProblem(404, "The requested resource does not exist.");
    }
    return c.json({ data: transactionResource(transaction, apiBase(c)) });
  });

  api.get("/webhooks", function listWebhooks(c) {
    const page = paginate(c, bank.webhooks);
    const baseUrl = apiBase(c);
    return c.json({
      data: page.data.map((webhook) => webhookResource(webhook, { baseUrl })),
      links: page.links,
    });
  });

  api.post("/webhooks", async function createWebhook(c) {
    const body = await readJson(c);
    const data = body.data as { attributes?: Record<string, unknown> } | undefined;
    const attributes = data?.attributes;
    const url = attributes?.url;
    if (typeof url !== "string" || url === "") {
      throw new HttpProblem(400, "A URL is required.", { pointer: "/data/attributes/url" });
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (
      parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:") ||
      url.length > 300
    ) {
      throw new HttpProblem(
        400,
        "The URL must be a valid HTTP or HTTPS URL of at most 300 characters.",
        { pointer: "/data/attributes/url" },
      );
    }
    const description = attributes?.description ?? null;
    if (description !== null && (typeof description !== "string" || description.length > 64)) {
      throw new HttpProblem(400, "The description must be a string of at most 64 characters.", {
        pointer: "/data/attributes/description",
      });
    }
    if (bank.webhooks.length >= webhookLimit) {
      throw new HttpProblem(
        400,
        `The limit of ${webhookLimit} webhooks has been reached. Delete a webhook before creating another.`,
        { pointer: "/data" },
      );
    }
    const webhook = bank.addWebhook(url, description);
    return c.json(
      { data: webhookResource(webhook, { baseUrl: apiBase(c), withSecret: true }) },
      201,
    );
  });

  api.get("/webhooks/:id", function getWebhook(c) {
    const webhook = bank.findWebhook(c.req.param("id"));
    if (webhook === undefined) throw new HttpProblem(404, "The requested resource does not exist.");
    return c.json({ data: webhookResource(webhook, { baseUrl: apiBase(c) }) });
  });

  api.delete("/webhooks/:id", function deleteWebhook(c) {
    if (!bank.removeWebhook(c.req.param("id"))) {
      throw new HttpProblem(404, "The requested resource does not exist.");
    }
    return c.body(null, 204);
  });

  api.post("/webhooks/:id/ping", function pingWebhook(c) {
    const webhook = bank.findWebhook(c.req.param("id"));
    if (webhook === undefined) throw new HttpProblem(404, "The requested resource does not exist.");
    return c.json(send(webhook, "PING", { baseUrl: apiBase(c) }), 201);
  });

  api.get("/webhooks/:id/logs", function listDeliveryLogs(c) {
    const webhookId = c.req.param("id");
    if (bank.findWebhook(webhookId) === undefined) {
      throw new HttpProblem(404, "The requested resource does not exist.");
    }
    const logs = bank.logs.filter((log) => log.webhookId === webhookId).reverse();
    const page = paginate(c, logs);
    return c.json({ data: page.data.map(deliveryLogResource), links: page.links });
  });

  const control = new Hono();
  control.use("*", requireToken);

  control.get("/", function describe(c) {
    return c.json({
      meta: {
        simulator: "upbus-up-simulator",
        api: apiBase(c),
        webhooks: bank.webhooks.length,
        transactions: bank.transactions.length,
        categories: Object.keys(SIM_CATEGORIES).filter((id) => SIM_CATEGORIES[id] !== null),
      },
    });
  });

  control.post("/transactions", async function createTransaction(c) {
    const body = await readJson(c);
    let amountCents: number;
    try {
      amountCents = parseAmount(body.amount as string ?? "");
    } catch (error) {
      throw new HttpProblem(400, (error as Error).message, { pointer: "/amount" });
    }
    const status = body.status ?? undefined;
    if (status !== undefined && status !== "HELD" && status !== "SETTLED") {
      throw new HttpProblem(400, "status must be HELD or SETTLED.", { pointer: "/status" });
    }
    let transaction: SimTransaction;
    try {
      transaction = bank.addTransaction({
        amountCents,
        description: typeof body.description === "string" ? body.description : "",
        // As Up would: a purchase without a category gets the one its description fits.
        categoryId: typeof body.category === "string"
          ? body.category
          : amountCents < 0
          ? categoryForDescription(typeof body.description === "string" ? body.description : "")
          : null,
        accountId: typeof body.accountId === "string" ? body.accountId : undefined,
        status,
        message: typeof body.message === "string" ? body.message : null,
      });
    } catch (error) {
      throw new HttpProblem(400, (error as Error).message, { pointer: "" });
    }
    const baseUrl = apiBase(c);
    const events = fire("TRANSACTION_CREATED", transaction.id, baseUrl);
    return c.json({ data: transactionResource(transaction, baseUrl), meta: { events } }, 201);
  });

  /** The transaction named in the path, changed by `change`: 404 if none, 409 if refused. */
  function changeTransaction(
    id: string,
    change: (transaction: SimTransaction) => void,
  ): SimTransaction {
    const transaction = bank.findTransaction(id);
    if (transaction === undefined) {
      throw new HttpProblem(
        404,
        id === "latest"
          ? "The simulator holds no HELD transaction."
          : `The simulator has no transaction ${id}.`,
      );
    }
    try {
      change(transaction);
    } catch (error) {
      throw new HttpProblem(409, (error as Error).message);
    }
    return transaction;
  }

  control.post("/transactions/:id/settle", function settleTransaction(c) {
    const transaction = changeTransaction(c.req.param("id"), (t) => bank.settle(t));
    const baseUrl = apiBase(c);
    const events = fire("TRANSACTION_SETTLED", transaction.id, baseUrl);
    return c.json({ data: transactionResource(transaction, baseUrl), meta: { events } });
  });

  control.delete("/transactions/:id", function deleteTransaction(c) {
    const transaction = changeTransaction(c.req.param("id"), (t) => bank.remove(t));
    const events = fire("TRANSACTION_DELETED", transaction.id, apiBase(c));
    return c.json({ data: { type: "transactions", id: transaction.id }, meta: { events } });
  });

  control.post("/transfers", async function createTransfer(c) {
    const body = await readJson(c);
    let amountCents: number;
    try {
      amountCents = parseAmount(body.amount as string ?? "");
    } catch (error) {
      throw new HttpProblem(400, (error as Error).message, { pointer: "/amount" });
    }
    const account = (field: "from" | "to", fallback: "TRANSACTIONAL" | "SAVER") => {
      const wanted = body[field];
      const found = typeof wanted === "string"
        ? bank.findAccount(wanted)
        : bank.accounts.find((candidate) => candidate.accountType === fallback);
      if (found === undefined) {
        throw new HttpProblem(
          400,
          `Cannot transfer: no account "${wanted}", expected one of ${
            bank.accounts.map((candidate) => candidate.displayName).join(", ")
          }`,
          { pointer: `/${field}` },
        );
      }
      return found;
    };
    let legs: SimTransaction[];
    try {
      legs = bank.transfer({
        amountCents,
        fromAccountId: account("from", "TRANSACTIONAL").id,
        toAccountId: account("to", "SAVER").id,
      });
    } catch (error) {
      if (error instanceof HttpProblem) throw error;
      throw new HttpProblem(400, (error as Error).message, { pointer: "" });
    }
    const baseUrl = apiBase(c);
    return c.json({
      data: legs.map((leg) => transactionResource(leg, baseUrl)),
      meta: { events: legs.flatMap((leg) => fire("TRANSACTION_CREATED", leg.id, baseUrl)) },
    }, 201);
  });

  control.post("/faults", async function injectFault(c) {
    const body = await readJson(c);
    const status = Number(body.status);
    const count = Number(body.count ?? 1);
    if (status !== 429 && !(status >= 500 && status <= 599)) {
      throw new HttpProblem(400, "status must be 429 or a 5xx status.", { pointer: "/status" });
    }
    if (!Number.isInteger(count) || count < 1 || count > 1000) {
      throw new HttpProblem(400, "count must be a whole number from 1 to 1000.", {
        pointer: "/count",
      });
    }
    const remaining = body.rateLimitRemaining === undefined
      ? undefined
      : Number(body.rateLimitRemaining);
    injectFaults({ status, rateLimitRemaining: remaining }, count);
    return c.json({ meta: { pendingFaults: faults.length } });
  });

  control.delete("/logs", function purgeDeliveryLogs(c) {
    const webhookId = c.req.query("webhookId");
    const beforeText = c.req.query("before");
    const before = beforeText === undefined ? undefined : Date.parse(beforeText);
    if (before !== undefined && Number.isNaN(before)) {
      throw new HttpProblem(400, "before must be an RFC 3339 date-time.", { parameter: "before" });
    }
    return c.json({ meta: { purged: purgeLogs({ webhookId, before }) } });
  });

  function purgeLogs(options: { webhookId?: string; before?: number } = {}): number {
    let purged = 0;
    for (let i = bank.logs.length - 1; i >= 0; i--) {
      const log = bank.logs[i];
      if (options.webhookId !== undefined && log.webhookId !== options.webhookId) continue;
      if (options.before !== undefined && log.createdAt >= options.before) continue;
      bank.logs.splice(i, 1);
      purged++;
    }
    return purged;
  }

  function injectFaults(fault: SimFault, count = 1): void {
    for (let i = 0; i < count; i++) faults.push({ ...fault });
  }

  const app = new Hono();
  app.route(SIM_API_PATH, api);
  app.route(SIM_CONTROL_PATH, control);
  app.notFound((c) => c.json(errorBody(404, "The requested resource does not exist."), 404));
  app.onError((error, c) => {
    if (error instanceof HttpProblem) {
      return c.json(errorBody(error.status, error.detail, error.source), error.status as 400);
    }
    return c.json(errorBody(500, "The simulator failed to answer."), 500);
  });

  return {
    app,
    bank,
    token,
    injectFaults,
    purgeLogs,
    idle: () => deliverer.idle(),
    close: () => deliverer.close(),
  };
}

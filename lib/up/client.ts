/**
 * Up API client: bearer auth, JSON:API errors as typed errors, pagination as async iterators,
 * rate-limit tracking and bounded, jittered retries. The token lives only in a closure: it is
 * never logged, never put in an error and never sent to any origin but the base URL's.
 *
 * @module
 */
import { errorFromResponse, UpApiError, UpNetworkError, UpRateLimitError } from "./errors.ts";
import type {
  AccountResource,
  AccountType,
  CategoryResource,
  ListResponse,
  OwnershipType,
  PingResponse,
  ResourceResponse,
  TransactionResource,
  TransactionStatus,
  WebhookDeliveryLogResource,
  WebhookEventCallback,
  WebhookResource,
} from "./types.ts";

/** Up's production API. */
export const DEFAULT_UP_API_BASE = "https://api.up.com.au/api/v1";

/** The largest `page[size]` Up accepts. */
export const MAX_PAGE_SIZE = 100;

/** The longest webhook URL Up accepts. */
export const MAX_WEBHOOK_URL_LENGTH = 300;

/** The longest webhook description Up accepts. */
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 64;

/** What the client reports before it waits and tries again. */
export interface RetryNotice {
  /** What was being done: `"list webhooks"`. */
  action: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the client will wait, in milliseconds. */
  delayMs: number;
  /** Why: the typed error of the failed attempt (it never holds the token). */
  error: UpApiError;
}

/** Options for {@linkcode createUpClient}. */
export interface UpClientOptions {
  /** The personal access token (`up:yeah:...`). Required. */
  token: string;
  /** The API root. Default {@linkcode DEFAULT_UP_API_BASE}. */
  baseUrl?: string;
  /** The fetch to use. Default the global `fetch`. */
  fetch?: typeof fetch;
  /** The clock, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Waits between retries. Default a `setTimeout` promise. */
  sleep?: (ms: number) => Promise<void>;
  /** Random numbers in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
  /** Retries after a 5xx, a timeout or a 429 (and a refused connection with
   * `retryUnreachable`). Default 4. */
  maxRetries?: number;
  /** Whether to retry when nothing could be reached (connection refused, no route, DNS): a
   * long-running command (enrich, consume) waits for Up to come back; a one-shot command a
   * person typed fails at once, with the reason. Default `false`. */
  retryUnreachable?: boolean;
  /** First backoff delay in milliseconds, doubled each retry (full jitter). Default 500. */
  retryBaseMs?: number;
  /** Largest backoff delay in milliseconds. Default 30 000. */
  retryMaxMs?: number;
  /** Longest wait for a rate limit to lift (the next clock hour) before giving up, in
   * milliseconds. Default 3 660 000 (an hour and a minute). */
  maxRateLimitWaitMs?: number;
  /** Per-request timeout in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Told before each retry, for logging. Default: nothing. */
  onRetry?: (notice: RetryNotice) => void;
}

/** Filters of the transaction lists. */
export interface TransactionListOptions {
  /** Records per page, 1 to 100. Default Up's (10). */
  pageSize?: number;
  /** Only `HELD` or only `SETTLED` transactions. */
  status?: TransactionStatus;
  /** Only transactions created at or after this instant. */
  since?: Date | string;
  /** Only transactions created before this instant. */
  until?: Date | string;
  /** Only transactions in this category (parent or child id). */
  category?: string;
  /** Only transactions with this tag. */
  tag?: string;
}

/** Filters of the account list. */
export interface AccountListOptions {
  /** Records per page, 1 to 100. */
  pageSize?: number;
  /** Only accounts of this type. */
  accountType?: AccountType;
  /** Only accounts of this ownership. */
  ownershipType?: OwnershipType;
}

/** Input of {@linkcode UpWebhooks.create}. */
export interface CreateWebhookInput {
  /** HTTP or HTTPS URL, at most 300 characters. */
  url: string;
  /** Optional, at most 64 characters. */
  description?: string | null;
}

/** Webhook endpoints of the Up API. */
export interface UpWebhooks {
  /** Every webhook, oldest first. */
  list(options?: { pageSize?: number }): AsyncIterableIterator<WebhookResource>;
  /** Creates a webhook; the result holds the `secretKey`, which Up never shows again. */
  create(input: CreateWebhookInput): Promise<WebhookResource>;
  /** One webhook. */
  get(id: string): Promise<WebhookResource>;
  /** Deletes a webhook. */
  delete(id: string): Promise<void>;
  /** Sends a `PING` event to the webhook; returns the event that will be delivered. */
  ping(id: string): Promise<WebhookEventCallback>;
  /** Delivery logs of the webhook, newest first. */
  logs(id: string, options?: { pageSize?: number }): AsyncIterableIterator<
    WebhookDeliveryLogResource
  >;
}

/** A client of the Up API. */
export interface UpClient {
  /** The API root every request goes to. */
  readonly baseUrl: string;
  /** The last `X-RateLimit-Remaining` Up sent, or `null` before any. */
  readonly rateLimitRemaining: number | null;
  /** `GET /util/ping`: checks the token. */
  ping(): Promise<PingResponse>;
  /** Every account. */
  listAccounts(options?: AccountListOptions): AsyncIterableIterator<AccountResource>;
  /** One account. */
  getAccount(id: string): Promise<AccountResource>;
  /** Every transaction, newest first. */
  listTransactions(options?: TransactionListOptions): AsyncIterableIterator<TransactionResource>;
  /** The transactions of one account, newest first. */
  listAccountTransactions(
    accountId: string,
    options?: TransactionListOptions,
  ): AsyncIterableIterator<TransactionResource>;
  /** One transaction. */
  getTransaction(id: string): Promise<TransactionResource>;
  /** Every category, parents and children (`GET /categories`, not paginated). */
  listCategories(): Promise<CategoryResource[]>;
  /** Webhook endpoints. */
  readonly webhooks: UpWebhooks;
}

type Query = Record<string, string | number | undefined>;

interface RequestSpec {
  method: "GET" | "POST" | "DELETE";
  /** A path under the base URL, or an absolute URL (a `links.next`). */
  target: string;
  query?: Query;
  body?: unknown;
  action: string;
  /** Whether a 5xx or network failure may be retried (the request is safe to repeat). */
  idempotent: boolean;
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function pageSize(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw new RangeError(
      `Cannot list: page size is ${value}, expected a whole number from 1 to ${MAX_PAGE_SIZE}`,
    );
  }
  return value;
}

function instant(value: Date | string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const date = typeof value === "string" ? new Date(value) : value;
  if (Number.isNaN(date.getTime())) {
    throw new RangeError(`Cannot list transactions: ${name} is not a valid date-time`);
  }
  return typeof value === "string" ? value : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function encodeId(id: string): string {
  if (id.length === 0) throw new TypeError("Cannot call the Up API: the id is empty");
  return encodeURIComponent(id);
}

/**
 * Validates a webhook's URL and description the way Up does, before any request is sent.
 *
 * @param input The URL and optional description.
 * @throws {RangeError} If the URL is not HTTP(S), is longer than 300 characters, or the
 * description is longer than 64 characters.
 *
 * @example
 * ```ts
 * import { validateWebhookInput } from "./client.ts";
 * validateWebhookInput({ url: "https://example.com/webhook", description: "upbus" });
 * ```
 */
export function validateWebhookInput(input: CreateWebhookInput): void {
  if (input.url.length > MAX_WEBHOOK_URL_LENGTH) {
    throw new RangeError(
      `Cannot create webhook: the URL is ${input.url.length} characters, at most ${MAX_WEBHOOK_URL_LENGTH} are allowed`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(input.url);
  } catch {
    throw new RangeError(`Cannot create webhook: "${input.url}" is not a URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new RangeError(
      `Cannot create webhook: the URL must start with https:// or http://, got "${parsed.protocol}"`,
    );
  }
  const description = input.description ?? "";
  if (description.length > MAX_WEBHOOK_DESCRIPTION_LENGTH) {
    throw new RangeError(
      `Cannot create webhook: the description is ${description.length} characters, at most ${MAX_WEBHOOK_DESCRIPTION_LENGTH} are allowed`,
    );
  }
}

/**
 * Creates a client of the Up API.
 *
 * Retries: a 429 waits (until the next clock hour when `X-RateLimit-Remaining` is 0, else with
 * backoff); a 5xx or a timeout is retried with jittered exponential backoff, but only for
 * requests that are safe to repeat (everything except creating a webhook); a refused connection
 * only with `retryUnreachable` (long-running commands). Retries are bounded by `maxRetries`.
 *
 * @param options The token, base URL and the injectable fetch, clock and sleep.
 * @returns The client.
 * @throws {TypeError} If the token is empty or the base URL is not HTTP(S).
 *
 * @example
 * ```ts
 * import { createUpClient } from "./client.ts";
 * const up = createUpClient({ token: "up:yeah:example", baseUrl: "http://127.0.0.1:8787/api/v1" });
 * if (up.rateLimitRemaining !== null) throw new Error("unexpected");
 * ```
 */
export function createUpClient(options: UpClientOptions): UpClient {
  const token = options.token?.trim() ?? "";
  if (token.length === 0) {
    throw new TypeError("Cannot create Up API client: the token is empty, set UP_API_TOKEN");
  }
  const rawBase = (options.baseUrl ?? DEFAULT_UP_API_BASE).replace(/\/+$/, "");
  let base: URL;
  try {
    base = new URL(rawBase);
  } catch {
    throw new TypeError(
      `Cannot create Up API client: base URL "${rawBase}" is not a URL, expected for example "${DEFAULT_UP_API_BASE}"`,
    );
  }
  if (base.protocol !== "https:" && base.protocol !== "http:") {
    throw new TypeError(
      `Cannot create Up API client: base URL "${rawBase}" must start with https:// or http://`,
    );
  }
  const baseUrl = rawBase;
  const fetchFn = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const maxRetries = options.maxRetries ?? 4;
  const retryUnreachable = options.retryUnreachable ?? false;
  const retryBaseMs = options.retryBaseMs ?? 500;
  const retryMaxMs = options.retryMaxMs ?? 30_000;
  const maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 3_660_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const onRetry = options.onRetry ?? (() => {});
  let rateLimitRemaining: number | null = null;

  const redact = (text: string): string => text.split(token).join("[redacted]");

  function resolve(target: string, query: Query | undefined): URL {
    const url = /^https?:\/\//.test(target) ? new URL(target) : new URL(baseUrl + target);
    if (url.origin !== base.origin) {
      // Following a link elsewhere would hand the token to another host.
      throw new UpApiError(
        `Cannot follow link: "${url.origin}" is not the API's origin "${base.origin}"`,
      );
    }
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  function backoff(attempt: number): number {
    const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + random() * ceiling / 2);
  }

  function untilNextHour(): number {
    const current = now();
    const hour = 3_600_000;
    return Math.floor(current / hour) * hour + hour - current;
  }

  async function once(spec: RequestSpec, url: URL): Promise<unknown> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      Accept: "application/json",
      "User-Agent": "upbus",
    };
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(spec.body);
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await fetchFn(url, {
        method: spec.method,
        headers,
        body,
        signal: controller.signal,
      });
      text = await response.text();
    } catch (error) {
      const timedOut = controller.signal.aborted;
      const reason = timedOut
        ? `no answer within ${timeoutMs} ms`
        : redact(error instanceof Error ? error.message : String(error));
      throw new UpNetworkError(`Cannot ${spec.action}: ${base.host} is unreachable: ${reason}`, {
        timedOut,
      });
    } finally {
      clearTimeout(timer);
    }
    const remaining = response.headers.get("X-RateLimit-Remaining");
    if (remaining !== null && /^\d+$/.test(remaining.trim())) {
      rateLimitRemaining = Number(remaining.trim());
    }
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (response.ok) {
      if (parsed === undefined && response.status !== 204 && text.length > 0) {
        throw new UpApiError(
          `Cannot ${spec.action}: the Up API answered HTTP ${response.status} with a body that is not JSON`,
          { status: response.status },
        );
      }
      return parsed;
    }
    let retryAt: Date | null = null;
    if (response.status === 429) {
      const retryAfter = response.headers.get("Retry-After");
      if (retryAfter !== null && /^\d+$/.test(retryAfter.trim())) {
        retryAt = new Date(now() + Number(retryAfter.trim()) * 1000);
      } else if (rateLimitRemaining === 0) {
        retryAt = new Date(now() + untilNextHour());
      }
    }
    const error = errorFromResponse(spec.action, {
      status: response.status,
      body: parsed,
      retryAt,
    });
    error.message = redact(error.message);
    throw error;
  }

  async function request<T>(spec: RequestSpec): Promise<T> {
    const url = resolve(spec.target, spec.query);
    for (let attempt = 1;; attempt++) {
      try {
        return await once(spec, url) as T;
      } catch (error) {
        if (!(error instanceof UpApiError) || !error.retriable || attempt > maxRetries) throw error;
        // Nothing listening will not start listening within a person's patience.
        if (error instanceof UpNetworkError && !error.timedOut && !retryUnreachable) throw error;
        if (!(error instanceof UpRateLimitError) && !spec.idempotent) throw error;
        let delayMs = backoff(attempt);
        if (error instanceof UpRateLimitError && error.retryAt !== null) {
          // Up buckets requests per clock hour: waiting less than until the reset is pointless.
          delayMs = Math.max(0, error.retryAt.getTime() - now()) + Math.round(random() * 1000);
          if (delayMs > maxRateLimitWaitMs) throw error;
        }
        onRetry({ action: spec.action, attempt, delayMs, error });
        await sleep(delayMs);
      }
    }
  }

  async function* paginate<T>(
    action: string,
    target: string,
    query: Query,
  ): AsyncIterableIterator<T> {
    let next: string | null = target;
    let first = true;
    while (next !== null) {
      const page: ListResponse<T> = await request<ListResponse<T>>({
        method: "GET",
        target: next,
        query: first ? query : undefined,
        action,
        idempotent: true,
      });
      first = false;
      if (!page || !Array.isArray(page.data)) {
        throw new UpApiError(`Cannot ${action}: the response has no "data" array`);
      }
      yield* page.data;
      next = page.links?.next ?? null;
    }
  }

  function transactionQuery(options: TransactionListOptions): Query {
    return {
      "page[size]": pageSize(options.pageSize),
      "filter[status]": options.status,
      "filter[since]": instant(options.since, "since"),
      "filter[until]": instant(options.until, "until"),
      "filter[category]": options.category,
      "filter[tag]": options.tag,
    };
  }

  const webhooks: UpWebhooks = {
    list(listOptions = {}) {
      return paginate<WebhookResource>("list webhooks", "/webhooks", {
        "page[size]": pageSize(listOptions.pageSize),
      });
    },
    async create(input) {
      validateWebhookInput(input);
      const attributes: Record<string, string> = { url: input.url };
      if (input.description) attributes.description = input.description;
      const response = await request<ResourceResponse<WebhookResource>>({
        method: "POST",
        target: "/webhooks",
        body: { data: { attributes } },
        action: "create webhook",
        idempotent: false,
      });
      return response.data;
    },
    async get(id) {
      const response = await request<ResourceResponse<WebhookResource>>({
        method: "GET",
        target: `/webhooks/${encodeId(id)}`,
        action: `get webhook ${id}`,
        idempotent: true,
      });
      return response.data;
    },
    async delete(id) {
      await request<void>({
        method: "DELETE",
        target: `/webhooks/${encodeId(id)}`,
        action: `delete webhook ${id}`,
        idempotent: true,
      });
    },
    async ping(id) {
      return await request<WebhookEventCallback>({
        method: "POST",
        target: `/webhooks/${encodeId(id)}/ping`,
        action: `ping webhook ${id}`,
        idempotent: true,
      });
    },
    logs(id, listOptions = {}) {
      return paginate<WebhookDeliveryLogResource>(
        `list delivery logs of webhook ${id}`,
        `/webhooks/${encodeId(id)}/logs`,
        { "page[size]": pageSize(listOptions.pageSize) },
      );
    },
  };

  return {
    baseUrl,
    get rateLimitRemaining() {
      return rateLimitRemaining;
    },
    async ping() {
      return await request<PingResponse>({
        method: "GET",
        target: "/util/ping",
        action: "check the token",
        idempotent: true,
      });
    },
    listAccounts(listOptions = {}) {
      return paginate<AccountResource>("list accounts", "/accounts", {
        "page[size]": pageSize(listOptions.pageSize),
        "filter[accountType]": listOptions.accountType,
        "filter[ownershipType]": listOptions.ownershipType,
      });
    },
    async getAccount(id) {
      const response = await request<ResourceResponse<AccountResource>>({
        method: "GET",
        target: `/accounts/${encodeId(id)}`,
        action: `get account ${id}`,
        idempotent: true,
      });
      return response.data;
    },
    listTransactions(listOptions = {}) {
      return paginate<TransactionResource>(
        "list transactions",
        "/transactions",
        transactionQuery(listOptions),
      );
    },
    listAccountTransactions(accountId, listOptions = {}) {
      return paginate<TransactionResource>(
        `list transactions of account ${accountId}`,
        `/accounts/${encodeId(accountId)}/transactions`,
        transactionQuery(listOptions),
      );
    },
    async getTransaction(id) {
      const response = await request<ResourceResponse<TransactionResource>>({
        method: "GET",
        target: `/transactions/${encodeId(id)}`,
        action: `get transaction ${id}`,
        idempotent: true,
      });
      return response.data;
    },
    async listCategories() {
      const response = await request<ListResponse<CategoryResource>>({
        method: "GET",
        target: "/categories",
        action: "list categories",
        idempotent: true,
      });
      if (!response || !Array.isArray(response.data)) {
        throw new UpApiError('Cannot list categories: the response has no "data" array');
      }
      return response.data;
    },
    webhooks,
  };
}

/** Options for {@linkcode upClientFromEnv}. */
export interface UpClientFromEnvOptions extends Omit<UpClientOptions, "token" | "baseUrl"> {
  /** Reads one variable. Default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
}

/**
 * Creates a client from `UP_API_TOKEN` and `UP_API_BASE`.
 *
 * @param options The environment reader, and any other client option.
 * @returns The client.
 * @throws {TypeError} If `UP_API_TOKEN` is unset or `UP_API_BASE` is not an HTTP(S) URL.
 *
 * @example
 * ```ts
 * import { upClientFromEnv } from "./client.ts";
 * const env: Record<string, string> = { UP_API_TOKEN: "up:yeah:example" };
 * const up = upClientFromEnv({ env: (name) => env[name] });
 * if (up.baseUrl !== "https://api.up.com.au/api/v1") throw new Error("unexpected");
 * ```
 */
export function upClientFromEnv(options: UpClientFromEnvOptions = {}): UpClient {
  const { env = (name: string) => Deno.env.get(name), ...rest } = options;
  const token = env("UP_API_TOKEN")?.trim();
  if (!token) {
    throw new TypeError(
      "Cannot create Up API client: UP_API_TOKEN is not set, expected a personal access token from https://api.up.com.au/getting_started",
    );
  }
  const baseUrl = env("UP_API_BASE")?.trim() || DEFAULT_UP_API_BASE;
  return createUpClient({ ...rest, token, baseUrl });
}

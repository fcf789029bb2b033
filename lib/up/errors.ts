/**
 * Typed errors of the Up API client, one class per meaning, with plain std-style messages.
 * None of them ever holds the API token: not in a message, a field or a cause.
 *
 * @module
 */
import type { ErrorObject } from "./types.ts";

/** Options shared by every {@linkcode UpApiError}. */
export interface UpApiErrorOptions {
  /** The HTTP status, or 0 when no response arrived. */
  status?: number;
  /** The JSON:API `errors` of the response, when it had any. */
  errors?: readonly ErrorObject[];
  /** Whether trying again later may succeed. Default `false`. */
  retriable?: boolean;
  /** The underlying error. */
  cause?: unknown;
}

/** Any failure of a call to the Up API. */
export class UpApiError extends Error {
  /** The HTTP status, or 0 when no response arrived. */
  readonly status: number;
  /** The JSON:API `errors` of the response (empty when it had none). */
  readonly errors: readonly ErrorObject[];
  /** Whether trying again later may succeed. */
  readonly retriable: boolean;

  /**
   * Makes the error of a failed Up API call.
   *
   * @param message What went wrong, in std style.
   * @param options Status, JSON:API errors, retriability and cause.
   */
  constructor(message: string, options: UpApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UpApiError";
    this.status = options.status ?? 0;
    this.errors = options.errors ?? [];
    this.retriable = options.retriable ?? false;
  }
}

/** 401: the token was rejected (wrong, revoked or missing). */
export class UpAuthError extends UpApiError {
  /** Makes the error; the status is 401 unless `options` says otherwise. */
  constructor(message: string, options: UpApiErrorOptions = {}) {
    super(message, { status: 401, ...options });
    this.name = "UpAuthError";
  }
}

/** 404: the resource does not exist (or a filter named something that does not). */
export class UpNotFoundError extends UpApiError {
  /** Makes the error; the status is 404 unless `options` says otherwise. */
  constructor(message: string, options: UpApiErrorOptions = {}) {
    super(message, { status: 404, ...options });
    this.name = "UpNotFoundError";
  }
}

/** 400 or 422: a parameter or body member was refused. */
export class UpBadRequestError extends UpApiError {
  /** The offending query parameter (`source.parameter`) or body member (`source.pointer`). */
  readonly parameter: string | null;

  /**
   * Makes the error of a refused parameter; the status is 400 unless `options` says otherwise.
   *
   * @param message What went wrong, in std style.
   * @param options As {@linkcode UpApiError}, plus the offending parameter.
   */
  constructor(message: string, options: UpApiErrorOptions & { parameter?: string | null } = {}) {
    super(message, { status: 400, ...options });
    this.name = "UpBadRequestError";
    this.parameter = options.parameter ?? null;
  }
}

/** 429: too many requests; Up counts about 1000 requests per clock hour. */
export class UpRateLimitError extends UpApiError {
  /** When the client expects the limit to lift, if known. */
  readonly retryAt: Date | null;

  /**
   * Makes the error of a rate limit; the status is 429 and it is retriable.
   *
   * @param message What went wrong, in std style.
   * @param options As {@linkcode UpApiError}, plus when the limit should lift.
   */
  constructor(message: string, options: UpApiErrorOptions & { retryAt?: Date | null } = {}) {
    super(message, { status: 429, retriable: true, ...options });
    this.name = "UpRateLimitError";
    this.retryAt = options.retryAt ?? null;
  }
}

/** 5xx: Up failed to answer. */
export class UpServerError extends UpApiError {
  /** Makes the error; pass the 5xx `status` in `options`. It is retriable. */
  constructor(message: string, options: UpApiErrorOptions = {}) {
    super(message, { retriable: true, ...options });
    this.name = "UpServerError";
  }
}

/** No HTTP response at all: DNS, connection refused, TLS, timeout. */
export class UpNetworkError extends UpApiError {
  /** Whether the request went out and no answer came in time (`false`: nothing could be
   * reached at all, as when nothing listens). */
  readonly timedOut: boolean;

  /**
   * Makes the error of a request that got no answer; the status is 0 and it is retriable.
   *
   * @param message What went wrong, in std style.
   * @param options As {@linkcode UpApiError}, plus whether it was a timeout (default `false`).
   */
  constructor(message: string, options: UpApiErrorOptions & { timedOut?: boolean } = {}) {
    super(message, { status: 0, retriable: true, ...options });
    this.name = "UpNetworkError";
    this.timedOut = options.timedOut ?? false;
  }
}

/** Options for {@linkcode errorFromResponse}. */
export interface ErrorFromResponseOptions {
  /** The HTTP status. */
  status: number;
  /** The parsed body, if it was JSON. */
  body?: unknown;
  /** When a rate limit should lift, if known. */
  retryAt?: Date | null;
}

function errorObjects(body: unknown): ErrorObject[] {
  if (typeof body !== "object" || body === null) return [];
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  return errors.filter((item): item is ErrorObject =>
    typeof item === "object" && item !== null && typeof item.detail === "string"
  );
}

/**
 * Turns an unsuccessful Up API response into the matching typed error.
 *
 * @param action What was being done, for the message: `"list webhooks"`.
 * @param options The status, parsed body and expected rate-limit reset.
 * @returns The error to throw; its message reads `Cannot <action>: <state>`.
 *
 * @example
 * ```ts
 * import { errorFromResponse, UpAuthError } from "./errors.ts";
 * const error = errorFromResponse("list webhooks", { status: 401 });
 * if (!(error instanceof UpAuthError)) throw new Error("unexpected");
 * ```
 */
export function errorFromResponse(action: string, options: ErrorFromResponseOptions): UpApiError {
  const { status } = options;
  const errors = errorObjects(options.body);
  const first = errors[0];
  const detail = first ? `: ${first.detail.replace(/\.$/, "")}` : "";
  if (status === 401) {
    return new UpAuthError(
      `Cannot ${action}: the token was rejected (HTTP 401), check UP_API_TOKEN`,
      { errors },
    );
  }
  if (status === 404) {
    return new UpNotFoundError(`Cannot ${action}: not found (HTTP 404)${detail}`, { errors });
  }
  if (status === 400 || status === 422) {
    const parameter = first?.source?.parameter ?? first?.source?.pointer ?? null;
    const where = parameter === null ? "the request was refused" : `"${parameter}" was refused`;
    return new UpBadRequestError(`Cannot ${action}: ${where} (HTTP ${status})${detail}`, {
      status,
      errors,
      parameter,
    });
  }
  if (status === 429) {
    const until = options.retryAt ? ` until ${options.retryAt.toISOString()}` : "";
    return new UpRateLimitError(
      `Cannot ${action}: rate limited by the Up API (HTTP 429)${until}`,
      { errors, retryAt: options.retryAt ?? null },
    );
  }
  if (status >= 500) {
    return new UpServerError(`Cannot ${action}: the Up API failed (HTTP ${status})${detail}`, {
      status,
      errors,
    });
  }
  return new UpApiError(`Cannot ${action}: unexpected HTTP ${status}${detail}`, {
    status,
    errors,
  });
}

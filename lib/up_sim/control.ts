/**
 * Client of the Up simulator's control API (`/__sim`): create, settle and delete transactions
 * (each fires its webhook event to every webhook) and make the next API responses fail.
 * Used by `upbus simulate` and by tests.
 *
 * @module
 */
import { errorFromResponse, UpApiError, UpNetworkError, UpNotFoundError } from "../up/errors.ts";
import type { TransactionResource } from "../up/types.ts";
import { SIM_API_PATH, SIM_CONTROL_PATH } from "./app.ts";

/** Options for {@linkcode createSimulatorControl}. */
export interface SimulatorControlOptions {
  /** The simulator's API base (`UP_API_BASE`), for example `http://127.0.0.1:8787/api/v1`. */
  baseUrl: string;
  /** The simulator's token (`UP_API_TOKEN`). */
  token: string;
  /** The fetch to use. Default the global `fetch`. */
  fetch?: typeof fetch;
}

/** Input of {@linkcode SimulatorControl.createTransaction}. */
export interface SimTransactionInput {
  /** Signed decimal amount: `"-12.50"` for a purchase. */
  amount: string;
  /** The short description, usually the merchant. */
  description: string;
  /** A child category id such as `restaurants-and-cafes`. */
  category?: string;
  /** Default the spending account. */
  accountId?: string;
  /** Default `HELD` for a payment, `SETTLED` for income. */
  status?: "HELD" | "SETTLED";
  /** The customer's note. Default none. */
  message?: string;
}

/** Input of {@linkcode SimulatorControl.transfer}. */
export interface SimTransferInput {
  /** Positive decimal amount moved, such as `"100.00"`. */
  amount: string;
  /** Account id or name to move it from. Default the spending (transactional) account. */
  from?: string;
  /** Account id or name to move it to. Default the saver account. */
  to?: string;
}

/** The events a control call fired, one per webhook. */
export interface FiredEvent {
  /** The webhook it was sent to. */
  webhookId: string;
  /** The event's id, as the delivery carries it. */
  eventId: string;
}

/** A transaction the simulator made, with the events it fired. */
export interface SimTransactionResult extends TransactionResource {
  /** The events it fired, one per webhook. */
  events: FiredEvent[];
}

/** What `GET /__sim` says about a simulator. */
export interface SimulatorDescription {
  /** The simulator's name, `upbus-up-simulator`: proof the base URL is a simulator. */
  simulator: string;
  /** The base URL of its Up API. */
  api: string;
  /** How many webhooks are registered. */
  webhooks: number;
  /** How many transactions it holds. */
  transactions: number;
  /** The child category ids a transaction may take. */
  categories: string[];
}

/** The control API. */
export interface SimulatorControl {
  /** Checks that the base URL is a simulator and describes it. */
  describe(): Promise<SimulatorDescription>;
  /** Creates a transaction and fires `TRANSACTION_CREATED`. */
  createTransaction(input: SimTransactionInput): Promise<SimTransactionResult>;
  /** Settles a `HELD` transaction (`"latest"`: the newest) and fires `TRANSACTION_SETTLED`. */
  settleTransaction(id: string): Promise<SimTransactionResult>;
  /** Deletes a `HELD` transaction (`"latest"`: the newest) and fires `TRANSACTION_DELETED`. */
  deleteTransaction(id: string): Promise<{ id: string; events: FiredEvent[] }>;
  /**
   * Moves money between two of the customer's accounts: two settled transactions that name
   * each other's account as `transferAccount`, each firing `TRANSACTION_CREATED`.
   */
  transfer(input: SimTransferInput): Promise<{
    transactions: TransactionResource[];
    events: FiredEvent[];
  }>;
  /** Purges delivery logs (one webhook's, or all; those before an instant, or all), as Up may;
   * returns how many were removed. */
  purgeLogs(options?: { webhookId?: string; before?: Date }): Promise<number>;
  /** Makes the next `count` API responses answer `status` (429 or 5xx). */
  injectFaults(
    fault: { status: number; count?: number; rateLimitRemaining?: number },
  ): Promise<void>;
}

/**
 * Creates a client of a simulator's control API.
 *
 * @param options The simulator's API base and token.
 * @returns The control client.
 * @throws {TypeError} If the base URL is not a URL.
 *
 * @example
 * ```ts
 * import { createSimulatorControl } from "./control.ts";
 * const control = createSimulatorControl({ baseUrl: "http://127.0.0.1:8787/api/v1", token: "t" });
 * if (typeof control.createTransaction !== "function") throw new Error("unexpected");
 * ```
 */
export function createSimulatorControl(options: SimulatorControlOptions): SimulatorControl {
  const base = options.baseUrl.replace(/\/+$/, "");
  const root = new URL(base).origin +
    base.slice(new URL(base).origin.length).replace(new RegExp(`${SIM_API_PATH}$`), "") +
    SIM_CONTROL_PATH;
  const fetchFn = options.fetch ?? fetch;

  async function call<T>(action: string, method: string, path: string, body?: unknown) {
    let response: Response;
    try {
      response = await fetchFn(root + path, {
        method,
        headers: {
          Authorization: `Bearer ${options.token}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new UpNetworkError(
        `Cannot ${action}: the simulator at ${new URL(root).host} is unreachable: ${
          reason.split(options.token).join("[redacted]")
        }; is \`deno task up-sim\` running there?`,
      );
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw errorFromResponse(action, { status: response.status, body: parsed });
    return parsed as T;
  }

  /** Says in words that there was nothing to act on, instead of a bare 404. */
  const nothingTo = (verb: string, id: string) => (error: unknown): never => {
    if (error instanceof UpApiError && error.status === 409 && error.errors[0]) {
      // The simulator's own refusal ("Cannot settle transaction X: it is already SETTLED").
      throw new UpApiError(error.errors[0].detail, { status: 409, errors: error.errors });
    }
    if (!(error instanceof UpNotFoundError)) throw error;
    throw new UpNotFoundError(
      id === "latest"
        ? `Cannot ${verb}: the simulator holds no HELD transaction, create one first with \`deno task simulate transaction-created\``
        : `Cannot ${verb} transaction ${id}: the simulator has no such transaction`,
    );
  };

  type Answer = { data: TransactionResource; meta: { events: FiredEvent[] } };
  const withEvents = (answer: Answer): SimTransactionResult => ({
    ...answer.data,
    events: answer.meta.events,
  });

  return {
    async describe() {
      const answer = await call<{ meta?: SimulatorDescription }>(
        "use the simulator",
        "GET",
        "",
      ).catch((error) => {
        if (error.status === 404) {
          throw new TypeError(
            `Cannot reach the simulator: ${base} is not an upbus Up simulator (no ${SIM_CONTROL_PATH} control API), pass --to URL to send directly`,
          );
        }
        throw error;
      });
      if (answer?.meta?.simulator === undefined) {
        throw new TypeError(`Cannot reach the simulator: ${base} is not an upbus Up simulator`);
      }
      return answer.meta;
    },
    async createTransaction(input) {
      return withEvents(await call<Answer>("create transaction", "POST", "/transactions", input));
    },
    async settleTransaction(id) {
      return withEvents(
        await call<Answer>(
          `settle transaction ${id}`,
          "POST",
          `/transactions/${encodeURIComponent(id)}/settle`,
        ).catch(nothingTo("settle", id)),
      );
    },
    async deleteTransaction(id) {
      const answer = await call<{ data: { id: string }; meta: { events: FiredEvent[] } }>(
        `delete transaction ${id}`,
        "DELETE",
        `/transactions/${encodeURIComponent(id)}`,
      ).catch(nothingTo("delete", id));
      return { id: answer.data.id, events: answer.meta.events };
    },
    async transfer(input) {
      const answer = await call<{ data: TransactionResource[]; meta: { events: FiredEvent[] } }>(
        "transfer",
        "POST",
        "/transfers",
        input,
      );
      return { transactions: answer.data, events: answer.meta.events };
    },
    async purgeLogs(purge = {}) {
      const query = new URLSearchParams();
      if (purge.webhookId !== undefined) query.set("webhookId", purge.webhookId);
      if (purge.before !== undefined) query.set("before", purge.before.toISOString());
      const text = query.toString();
      const answer = await call<{ meta: { purged: number } }>(
        "purge delivery logs",
        "DELETE",
        `/logs${text === "" ? "" : `?${text}`}`,
      );
      return answer.meta.purged;
    },
    async injectFaults(fault) {
      await call("inject faults", "POST", "/faults", fault);
    },
  };
}

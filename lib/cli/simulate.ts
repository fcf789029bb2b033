/**
 * `upbus simulate <event>`: makes one Up webhook event happen. With `UP_API_BASE` pointing at a
 * running simulator, the simulator changes a transaction and delivers the event to every
 * webhook (or moves money between accounts, or runs a purchase from CREATED to SETTLED);
 * otherwise the event is signed and POSTed straight to a URL.
 *
 * @module
 */
import { parseFlags, wholeNumber } from "./args.ts";
import { createUpClient } from "../up/client.ts";
import { waitForDelivery } from "../up/delivery_wait.ts";
import { DEFAULT_SIM_TOKEN, SIM_API_PATH } from "../up_sim/app.ts";
import { parseAmount } from "../up_sim/bank.ts";
import { createSimulatorControl, type FiredEvent } from "../up_sim/control.ts";
import { sendSignedEvent } from "../up_sim/delivery.ts";
import { buildWebhookEvent, encodeWebhookEvent } from "../up_sim/events.ts";
import type { WebhookEventType } from "../up/types.ts";
import { readWebhookState, type WebhookStateEntry } from "../up/webhook_state.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext, reportRetry } from "./context.ts";

const EVENTS: Record<string, WebhookEventType> = {
  "ping": "PING",
  "transaction-created": "TRANSACTION_CREATED",
  "transaction-settled": "TRANSACTION_SETTLED",
  "transaction-deleted": "TRANSACTION_DELETED",
};

/** Actions only the simulator can perform: they change its accounts. */
const SIMULATOR_ONLY = ["transfer", "flow"];

const USAGE =
  `Usage: upbus simulate <ping|transaction-created|transaction-settled|transaction-deleted|
                       transfer|flow>
                      [--to URL | --direct] [--secret-from-state] [--amount -12.50]
                      [--description TEXT] [--category ID] [--transaction ID]
                      [--from ACCOUNT] [--to-account ACCOUNT]

Through the simulator (UP_API_BASE points at \`upbus up-sim\` and no --to is given): the
simulator creates, settles or deletes a transaction (or pings each webhook) and delivers the
event, signed, to every registered webhook; the command then reports each delivery.
A positive amount is income (Salary, a refund): it arrives SETTLED, with no category.
  transfer   moves --amount (default 100.00) between two of your accounts, by name or id
             (--from Spending --to-account Savings): two settled transactions, each with
             the other account as its transferAccount, each a TRANSACTION_CREATED event
  flow       one purchase from start to end: TRANSACTION_CREATED (HELD), then SETTLED

Without UP_API_BASE and UP_API_TOKEN naming a simulator, simulate refuses and says what to
export: an event for a transaction nobody holds would reach the service, and the enricher
would publish it as deleted.

Directly (--to URL or --direct, on purpose): a made-up event is signed and POSTed once to
--to, by default the newest webhook URL in DATA_DIR/webhooks.json. The secret is the first of UP_WEBHOOK_SECRETS,
else (or with --secret-from-state) the one stored for that URL in DATA_DIR/webhooks.json.

Options:
  --to URL              send straight to this URL
  --direct              send straight to the newest webhook URL in DATA_DIR/webhooks.json
  --secret-from-state   sign with the secret register-webhook stored
  --amount AMOUNT       signed amount in dollars (default -12.50)
  --description TEXT    merchant or description (default "Campos Coffee")
  --category ID         child category id (purchases only; default the one the description
                        fits, as Up picks it: Opal Travel -> public-transport)
  --transaction ID      settled/deleted: which transaction (default the newest HELD one)
  --from ACCOUNT        transfer: from this account (default the spending account)
  --to-account ACCOUNT  transfer: to this account (default the saver account)
  --data-dir DIR        where webhooks.json is (default DATA_DIR, else ./data)
  --timeout SECONDS     how long to wait for deliveries through the simulator (default 15)`;

interface Options {
  /** The positional: an event name, `transfer` or `flow`. */
  action: string;
  eventType: WebhookEventType;
  to?: string;
  /** `--direct`: send straight to the stored webhook URL without a simulator, on purpose. */
  direct: boolean;
  secretFromState: boolean;
  amount: string;
  description: string;
  /** `undefined` for income, or for the simulator to choose from the description. */
  category: string | undefined;
  from?: string;
  toAccount?: string;
  transaction?: string;
  dataDir: string;
  timeoutMs: number;
}

/** Lets `--amount -12.50` through: parseArgs would take `-12.50` for an option. */
function joinNegativeAmount(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--amount" && /^-\d/.test(args[i + 1] ?? "")) {
      joined.push(`--amount=${args[++i]}`);
    } else {
      joined.push(args[i]);
    }
  }
  return joined;
}

function parse(args: string[], context: CliContext): Options {
  const { values, positionals } = parseFlags(joinNegativeAmount(args), {
    to: { type: "string" },
    direct: { type: "boolean" },
    "secret-from-state": { type: "boolean" },
    amount: { type: "string" },
    description: { type: "string" },
    category: { type: "string" },
    transaction: { type: "string" },
    from: { type: "string" },
    "to-account": { type: "string" },
    "data-dir": { type: "string" },
    timeout: { type: "string" },
  }, { positionals: true });
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "which event?" : `unexpected "${positionals[1]}"`,
    );
  }
  const action = positionals[0];
  const eventType = EVENTS[action] ?? (action === "flow" ? "TRANSACTION_CREATED" : undefined);
  if (eventType === undefined && action !== "transfer") {
    throw new UsageError(
      `unknown event "${action}", expected one of ${
        [...Object.keys(EVENTS), ...SIMULATOR_ONLY].join(", ")
      }`,
    );
  }
  const amount = values.amount ?? (action === "transfer" ? "100.00" : "-12.50");
  let cents: number;
  try {
    cents = parseAmount(amount);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (action === "transfer" && cents <= 0) {
    throw new UsageError(`a transfer moves a positive amount, not ${amount}`);
  }
  if (action === "flow" && cents >= 0) {
    throw new UsageError(`flow simulates a purchase, so --amount must be negative, not ${amount}`);
  }
  if (cents > 0 && values.category !== undefined && action !== "transfer") {
    throw new UsageError(
      `--amount ${amount} is income, which Up does not categorise: leave out --category`,
    );
  }
  const timeout = wholeNumber(values.timeout, { flag: "timeout", fallback: 15, max: 3600 });
  return {
    action,
    eventType: eventType ?? "TRANSACTION_CREATED",
    to: values.to,
    direct: values.direct ?? false,
    secretFromState: values["secret-from-state"] ?? false,
    amount,
    description: values.description ?? (cents > 0 ? "Salary" : "Campos Coffee"),
    // Without --category the simulator picks the one that fits the description, as Up does.
    category: cents > 0 ? undefined : values.category,
    from: values.from,
    toAccount: values["to-account"],
    transaction: values.transaction,
    dataDir: values["data-dir"] ?? context.env("DATA_DIR") ?? "./data",
    timeoutMs: timeout * 1000,
  };
}

/** Makes the event happen in the simulator, then reports each webhook's delivery. */
async function simulateThroughSimulator(
  options: Options,
  context: CliContext,
  api: { baseUrl: string; token: string },
): Promise<number> {
  const control = createSimulatorControl({ ...api, fetch: context.fetch });
  await control.describe();
  const up = createUpClient({
    ...api,
    fetch: context.fetch,
    sleep: context.sleep,
    now: context.now,
    onRetry: reportRetry(context, "simulate"),
  });
  const undelivered = new Map<string, string>();
  /**
   * Waits for every fired event's delivery at once (no longer than it can still succeed: a
   * webhook where nothing answers is reported at its first attempt) and says how each went.
   * Returns 1 when no webhook received the event, else 0: the one a person meant (their
   * running service) landed, and a dead webhook beside it is a warning, not a failure.
   */
  async function report(eventType: WebhookEventType, events: FiredEvent[]): Promise<number> {
    const outcomes = await Promise.all(events.map(async (fired) => {
      const outcome = await waitForDelivery(up, fired.webhookId, {
        eventId: fired.eventId,
        timeoutMs: options.timeoutMs,
        pollMs: 200,
        sleep: context.sleep,
        now: context.now,
        stopAtHopelessAttempt: true,
      });
      const webhook = await up.webhooks.get(fired.webhookId).catch(() => null);
      return { fired, outcome, where: webhook?.attributes.url ?? fired.webhookId };
    }));
    let delivered = 0;
    for (const { fired, outcome, where } of outcomes) {
      if (outcome.delivered) {
        delivered++;
        context.out(`${eventType} ${fired.eventId} delivered to ${where} (HTTP 200)`);
        continue;
      }
      const log = outcome.log;
      const detail = log === null
        ? `no delivery attempt within ${options.timeoutMs / 1000} s`
        : `${log.attributes.deliveryStatus}${
          log.attributes.response
            ? ` (HTTP ${log.attributes.response.statusCode}: ${
              log.attributes.response.body.slice(0, 200)
            })`
            : ""
        }`;
      context.out(`${eventType} ${fired.eventId} NOT delivered to ${where}: ${detail}`);
      if (log?.attributes.deliveryStatus === "UNDELIVERABLE") {
        undelivered.set(fired.webhookId, where);
      }
    }
    return delivered === 0 ? 1 : 0;
  }

  /** Says, once per webhook, how to remove one where nothing answers. */
  function adviseRemoval(): void {
    for (const [id, where] of undelivered) {
      context.out(
        `Nothing answers at ${where} (webhook ${id}); the simulator retries it for a while. If nothing will listen there again, remove it: deno task webhooks delete ${id}`,
      );
    }
  }

  const create = async () => {
    const transaction = await control.createTransaction({
      amount: options.amount,
      description: options.description,
      category: options.category,
    });
    context.out(
      `Created ${transaction.attributes.status} transaction ${transaction.id}: ${transaction.attributes.amount.value} AUD, ${transaction.attributes.description}${
        transaction.attributes.amount.valueInBaseUnits > 0 ? " (income, no category)" : ""
      }`,
    );
    return transaction;
  };

  let events: FiredEvent[];
  let failures = 0;
  switch (options.action) {
    case "ping": {
      events = [];
      for await (const webhook of up.webhooks.list()) {
        const event = await up.webhooks.ping(webhook.id);
        events.push({ webhookId: webhook.id, eventId: event.data.id });
      }
      context.out(`Pinged ${events.length} webhook(s)`);
      break;
    }
    case "transaction-created": {
      events = (await create()).events;
      break;
    }
    case "flow": {
      const transaction = await create();
      failures += await report("TRANSACTION_CREATED", transaction.events);
      const settled = await control.settleTransaction(transaction.id);
      context.out(`Settled transaction ${settled.id}`);
      options.eventType = "TRANSACTION_SETTLED";
      events = settled.events;
      if (transaction.events.length === 0) events = [];
      break;
    }
    case "transfer": {
      const transfer = await control.transfer({
        amount: options.amount,
        from: options.from,
        to: options.toAccount,
      });
      for (const leg of transfer.transactions) {
        context.out(
          `Created SETTLED transaction ${leg.id}: ${leg.attributes.amount.value} AUD, ${leg.attributes.description}`,
        );
      }
      events = transfer.events;
      break;
    }
    case "transaction-settled": {
      const transaction = await control.settleTransaction(options.transaction ?? "latest");
      events = transaction.events;
      context.out(`Settled transaction ${transaction.id}`);
      break;
    }
    default: {
      const deleted = await control.deleteTransaction(options.transaction ?? "latest");
      events = deleted.events;
      context.out(`Deleted transaction ${deleted.id}`);
    }
  }
  if (events.length === 0) {
    context.out(
      "No webhook is registered with the simulator, so nothing was delivered. Run: deno task register-webhook --url http://127.0.0.1:8080/webhook",
    );
    return 1;
  }
  failures += await report(options.eventType, events);
  adviseRemoval();
  return failures === 0 ? 0 : 1;
}

/** Picks the secret to sign with for a direct send. */
function chooseSecret(
  options: Options,
  context: CliContext,
  entry: WebhookStateEntry | undefined,
): string {
  const fromEnv = (context.env("UP_WEBHOOK_SECRETS") ?? "").split(",").map((item) => item.trim())
    .filter((item) => item !== "");
  if (!options.secretFromState && fromEnv.length > 0) return fromEnv[0];
  if (entry !== undefined) return entry.secretKey;
  throw new Error(
    "Cannot sign the event: UP_WEBHOOK_SECRETS is empty and DATA_DIR/webhooks.json holds no webhook, run `deno task register-webhook` first or set UP_WEBHOOK_SECRETS",
  );
}

/** Signs one event and POSTs it straight to a URL. */
async function simulateDirectly(options: Options, context: CliContext): Promise<number> {
  if (SIMULATOR_ONLY.includes(options.action)) {
    throw new UsageError(
      `${options.action} needs the simulator: run \`deno task up-sim\` and set UP_API_BASE and UP_API_TOKEN to what it prints`,
    );
  }
  const state = await readWebhookState(options.dataDir);
  const newest = state.webhooks.at(-1);
  const to = options.to ?? newest?.url;
  if (to === undefined) {
    throw new UsageError(
      "where to? Pass --to URL, register a webhook first, or point UP_API_BASE at `upbus up-sim`",
    );
  }
  const entry = state.webhooks.findLast((candidate) => candidate.url === to) ??
    (options.to === undefined ? newest : options.secretFromState ? newest : undefined);
  const secret = chooseSecret(options, context, entry);
  const event = buildWebhookEvent(options.eventType, {
    webhookId: entry?.id ?? crypto.randomUUID(),
    transactionId: options.eventType === "PING"
      ? undefined
      : options.transaction ?? crypto.randomUUID(),
    baseUrl: (context.env("UP_API_BASE") || "https://api.up.com.au/api/v1").replace(/\/+$/, ""),
    createdAt: context.now(),
  });
  const attempt = await sendSignedEvent(to, encodeWebhookEvent(event), {
    secret,
    fetch: context.fetch,
  });
  const id = `${options.eventType} ${event.data.id}`;
  if (attempt.deliveryStatus === "DELIVERED") {
    context.out(`${id} delivered to ${to} (HTTP 200): ${attempt.response?.body.slice(0, 200)}`);
    return 0;
  }
  context.out(
    attempt.response === null
      ? `${id} NOT delivered to ${to}: ${attempt.error}`
      : `${id} NOT delivered to ${to}: HTTP ${attempt.response.statusCode}: ${
        attempt.response.body.slice(0, 200)
      }`,
  );
  return 1;
}

/**
 * Creates the `simulate` command.
 *
 * @param overrides Parts of the outside world to replace (tests pass `env`, `out`).
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createSimulateCommand } from "./simulate.ts";
 * if (createSimulateCommand().name !== "simulate") throw new Error("unexpected");
 * ```
 */
export function createSimulateCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "simulate",
    summary: "make one signed Up webhook event happen (through the simulator or straight to a URL)",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const options = parse(args, context);
      const baseUrl = context.env("UP_API_BASE")?.trim();
      const token = context.env("UP_API_TOKEN")?.trim();
      const direct = options.to !== undefined || options.direct;
      if (!direct) {
        const missing = !baseUrl
          ? "UP_API_BASE is not set"
          : baseUrl.startsWith("https://api.up.com.au")
          ? "UP_API_BASE is Up's own API, where nothing can be made to happen"
          : !token
          ? "UP_API_TOKEN is not set"
          : undefined;
        if (missing !== undefined) {
          context.err(
            `upbus simulate: Cannot simulate an event: ${missing}, so no simulator makes it happen. Start one with \`deno task up-sim\` and export the two lines it prints:`,
          );
          context.err(`  export UP_API_BASE=http://127.0.0.1:8787${SIM_API_PATH}`);
          context.err(`  export UP_API_TOKEN=${DEFAULT_SIM_TOKEN}`);
          context.err(
            "Or, on purpose, sign a made-up event and POST it straight to a webhook URL: --direct (the newest registered one) or --to URL",
          );
          return 1;
        }
      }
      try {
        return direct
          ? await simulateDirectly(options, context)
          : await simulateThroughSimulator(options, context, { baseUrl: baseUrl!, token: token! });
      } catch (error) {
        if (error instanceof UsageError) throw error;
        context.err(`upbus simulate: ${error instanceof Error ? error.message : error}`);
        return 1;
      }
    },
  };
}

/** The `simulate` command. */
export const simulateCommand: Command = createSimulateCommand();

/**
 * `upbus webhooks list | delete <id> | ping <id> | logs <id>`: the webhooks registered with Up,
 * as readable tables or, with `--json`, as JSON for scripts.
 *
 * @module
 */
import { recoverBeforeDelete } from "../webhook/recovery/before_delete.ts";
import { parseFlags, wholeNumber } from "./args.ts";
import type { UpClient } from "../up/client.ts";
import { waitForDelivery } from "../up/delivery_wait.ts";
import type { WebhookDeliveryLogResource } from "../up/types.ts";
import { readWebhookState, writeWebhookState } from "../up/webhook_state.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext, commandUpClient } from "./context.ts";
import { formatTable } from "./table.ts";

const USAGE = `Usage: upbus webhooks list [--json]
       upbus webhooks delete <id>
       upbus webhooks ping [<id>] [--timeout 15] [--json]
       upbus webhooks logs [<id>] [--limit 20] [--json]

Lists the webhooks registered with Up (URL, description, created, last delivery, whether upbus
holds its secret), deletes one (and forgets its secret), sends one a PING and waits for the
delivery, or shows its delivery logs, newest first. ping and logs need no id when there is
only one webhook; an id may be shortened to its first characters, as list shows them.

Options:
  --json            print JSON instead of a table
  --limit N         logs: how many entries (default 20, at most 100)
  --timeout SECONDS ping: how long to wait for the delivery (default 15; 0: do not wait)
  --data-dir DIR    where webhooks.json is (default DATA_DIR, else ./data)

Environment: UP_API_TOKEN (required), UP_API_BASE, DATA_DIR`;

function eventTypeOf(log: WebhookDeliveryLogResource): string {
  try {
    return JSON.parse(log.attributes.request.body)?.data?.attributes?.eventType ?? "?";
  } catch {
    return "?";
  }
}

/** `PING`, `CREATED`, `SETTLED`, `DELETED`: the event type without its `TRANSACTION_`. */
function shortEventType(log: WebhookDeliveryLogResource): string {
  return eventTypeOf(log).replace(/^TRANSACTION_/, "");
}

/** `12-01 21:14` of an Up time (`2026-12-01T21:14:05+11:00`), in Up's own offset. */
function shortTime(time: string): string {
  return `${time.slice(5, 10)} ${time.slice(11, 16)}`;
}

/** How many characters of an id the list shows. */
const SHORT_ID = 8;

/**
 * The webhook an action is about: `id` (or the one webhook whose id starts with it), else the
 * only webhook there is.
 */
async function resolveWebhookId(
  up: UpClient,
  id: string | undefined,
  action: string,
): Promise<string> {
  if (id !== undefined && id.length >= 36) return id;
  const ids: string[] = [];
  for await (const webhook of up.webhooks.list({ pageSize: 100 })) ids.push(webhook.id);
  if (id !== undefined) {
    const matches = ids.filter((candidate) => candidate.startsWith(id));
    return matches.length === 1 ? matches[0] : id;
  }
  if (ids.length === 1) return ids[0];
  if (ids.length === 0) {
    throw new Error(
      `Cannot ${action}: no webhook is registered, run \`deno task register-webhook\` first`,
    );
  }
  throw new UsageError(
    `${ids.length} webhooks are registered, say which: ${
      ids.map((one) => one.slice(0, SHORT_ID)).join(", ")
    }`,
  );
}

function statusOf(log: WebhookDeliveryLogResource | undefined): string {
  if (log === undefined) return "-";
  const code = log.attributes.response?.statusCode;
  return code === undefined
    ? log.attributes.deliveryStatus
    : `${log.attributes.deliveryStatus} ${code}`;
}

async function firstLogs(up: UpClient, id: string, limit: number) {
  const logs: WebhookDeliveryLogResource[] = [];
  for await (const log of up.webhooks.logs(id, { pageSize: Math.min(limit, 100) })) {
    logs.push(log);
    if (logs.length >= limit) break;
  }
  return logs;
}

async function list(up: UpClient, dataDir: string, json: boolean, context: CliContext) {
  const state = await readWebhookState(dataDir);
  const rows = [];
  for await (const webhook of up.webhooks.list({ pageSize: 100 })) {
    const [last] = await firstLogs(up, webhook.id, 1);
    rows.push({ webhook, last, stored: state.webhooks.some((entry) => entry.id === webhook.id) });
  }
  if (json) {
    context.out(JSON.stringify(
      rows.map(({ webhook, last, stored }) => ({
        id: webhook.id,
        url: webhook.attributes.url,
        description: webhook.attributes.description,
        createdAt: webhook.attributes.createdAt,
        lastDelivery: last === undefined ? null : {
          eventType: eventTypeOf(last),
          deliveryStatus: last.attributes.deliveryStatus,
          statusCode: last.attributes.response?.statusCode ?? null,
          createdAt: last.attributes.createdAt,
        },
        secretStored: stored,
      })),
      null,
      2,
    ));
    return 0;
  }
  if (rows.length === 0) {
    context.out("No webhooks. Register one with: deno task register-webhook");
    return 0;
  }
  // About 100 columns: the id's first characters (enough for ping, logs and delete), and the
  // description and creation time left to --json.
  const table = formatTable(
    ["ID", "URL", "LAST DELIVERY", "SECRET"],
    rows.map(({ webhook, last, stored }) => [
      webhook.id.slice(0, SHORT_ID),
      webhook.attributes.url,
      last === undefined
        ? "-"
        : `${statusOf(last)} ${shortEventType(last)} ${shortTime(last.attributes.createdAt)}`,
      stored ? "stored" : "-",
    ]),
  );
  for (const line of table) context.out(line);
  return 0;
}

async function remove(up: UpClient, id: string, dataDir: string, context: CliContext) {
  // Its logs go with it: what Up could not deliver is read into the store first.
  await recoverBeforeDelete(up, { dataDir, webhookIds: [id], out: context.out });
  await up.webhooks.delete(id);
  const state = await readWebhookState(dataDir);
  const kept = state.webhooks.filter((entry) => entry.id !== id);
  if (kept.length !== state.webhooks.length) {
    await writeWebhookState(dataDir, { version: 1, webhooks: kept });
    context.out(`Deleted webhook ${id} and forgot its secret`);
  } else {
    context.out(`Deleted webhook ${id}`);
  }
  return 0;
}

async function ping(
  up: UpClient,
  id: string,
  options: { timeoutMs: number; json: boolean },
  context: CliContext,
) {
  const event = await up.webhooks.ping(id);
  if (options.timeoutMs === 0) {
    context.out(options.json ? JSON.stringify(event, null, 2) : `PING ${event.data.id} sent`);
    return 0;
  }
  const outcome = await waitForDelivery(up, id, {
    eventId: event.data.id,
    timeoutMs: options.timeoutMs,
    pollMs: 250,
    sleep: context.sleep,
    now: context.now,
  });
  if (options.json) {
    context.out(JSON.stringify({ event, delivered: outcome.delivered, log: outcome.log }, null, 2));
  } else if (outcome.delivered) {
    context.out(`PING ${event.data.id} delivered (HTTP 200)`);
  } else {
    const log = outcome.log;
    context.out(
      log === null
        ? `PING ${event.data.id} not delivered: no attempt logged within ${
          options.timeoutMs / 1000
        } s`
        : `PING ${event.data.id} not delivered: ${statusOf(log)} ${
          log.attributes.response?.body.slice(0, 200) ?? ""
        }`.trimEnd(),
    );
  }
  return outcome.delivered ? 0 : 1;
}

async function logs(
  up: UpClient,
  id: string,
  options: { limit: number; json: boolean },
  context: CliContext,
) {
  const entries = await firstLogs(up, id, options.limit);
  if (options.json) {
    context.out(JSON.stringify(entries, null, 2));
    return 0;
  }
  if (entries.length === 0) {
    context.out(`No delivery logs for webhook ${id}`);
    return 0;
  }
  const table = formatTable(
    ["CREATED", "EVENT", "STATUS", "EVENT ID", "RESPONSE"],
    entries.map((log) => [
      log.attributes.createdAt,
      eventTypeOf(log),
      statusOf(log),
      log.relationships.webhookEvent.data.id,
      log.attributes.response?.body ?? "",
    ]),
  );
  for (const line of table) context.out(line);
  return 0;
}

/**
 * Creates the `webhooks` command.
 *
 * @param overrides Parts of the outside world to replace (tests pass `env`, `out`).
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createWebhooksCommand } from "./webhooks.ts";
 * if (createWebhooksCommand().name !== "webhooks") throw new Error("unexpected");
 * ```
 */
export function createWebhooksCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "webhooks",
    summary: "list, delete, ping or show the delivery logs of Up webhooks",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const { values, positionals } = parseFlags(args, {
        json: { type: "boolean" },
        limit: { type: "string" },
        timeout: { type: "string" },
        "data-dir": { type: "string" },
      }, { positionals: true });
      const [action, id, extra] = positionals;
      if (action === undefined) throw new UsageError("which action? list, delete, ping or logs");
      if (!["list", "delete", "ping", "logs"].includes(action)) {
        throw new UsageError(`unknown action "${action}", expected list, delete, ping or logs`);
      }
      const idRequired = action === "delete";
      if (
        action === "list"
          ? id !== undefined
          : (idRequired && id === undefined) || extra !== undefined
      ) {
        throw new UsageError(
          action === "list" ? `unexpected "${id}"` : `${action} takes one webhook id`,
        );
      }
      const limit = wholeNumber(values.limit, { flag: "limit", fallback: 20, min: 1, max: 100 });
      const timeout = wholeNumber(values.timeout, { flag: "timeout", fallback: 15, max: 3600 });
      const dataDir = values["data-dir"] ?? context.env("DATA_DIR") ?? "./data";
      const json = values.json ?? false;
      try {
        const up = commandUpClient(context, "webhooks");
        switch (action) {
          case "list":
            return await list(up, dataDir, json, context);
          case "delete":
            return await remove(up, await resolveWebhookId(up, id, "delete"), dataDir, context);
          case "ping": {
            const which = await resolveWebhookId(up, id, "ping a webhook");
            return await ping(up, which, { timeoutMs: timeout * 1000, json }, context);
          }
          default: {
            const which = await resolveWebhookId(up, id, "show delivery logs");
            return await logs(up, which, { limit, json }, context);
          }
        }
      } catch (error) {
        if (error instanceof UsageError) throw error;
        context.err(`upbus webhooks: ${error instanceof Error ? error.message : error}`);
        return 1;
      }
    },
  };
}

/** The `webhooks` command. */
export const webhooksCommand: Command = createWebhooksCommand();

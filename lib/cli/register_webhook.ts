/**
 * `upbus register-webhook`: from an API token to a verified, delivered PING in one command.
 * Small named steps: check the token, find a public URL (--url, a running ngrok agent, or an
 * in-process ngrok tunnel), clear stale webhooks, create the webhook, keep its secret in the
 * 0600 state file (never printed), ping it and wait for the delivery, then retire the webhooks
 * it replaces (rotation: the new one first, the old ones after).
 *
 * @module
 */
import { recoverBeforeDelete } from "../webhook/recovery/before_delete.ts";
import { parseFlags, wholeNumber } from "./args.ts";
import type { UpClient } from "../up/client.ts";
import { waitForDelivery } from "../up/delivery_wait.ts";
import { UpApiError, UpNotFoundError } from "../up/errors.ts";
import type { WebhookDeliveryLogResource, WebhookResource } from "../up/types.ts";
import {
  readWebhookState,
  type WebhookStateEntry,
  webhookStatePath,
  writeWebhookState,
} from "../up/webhook_state.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext, commandUpClient } from "./context.ts";

const USAGE = `Usage: upbus register-webhook [--url URL] [--port 8080] [--path /webhook]
                              [--description upbus] [--replace] [--timeout 30]

Registers this upbus with Up: checks UP_API_TOKEN, finds a public URL, creates the webhook,
stores its secret in DATA_DIR/webhooks.json (mode 0600; the server accepts it at once), pings it
and waits until the PING reached the local server.

The public URL is, in order: --url; the https tunnel of an ngrok agent already running (its API
on 127.0.0.1:4040) to --port; or an ngrok tunnel opened in this process with NGROK_AUTHTOKEN,
kept open until Ctrl-C. That tunnel loads ngrok's native add-on, which the register-webhook
task's permissions do not allow: run it as
  deno run -P=register-webhook --allow-read --allow-ffi main.ts register-webhook

Running it again for the same URL rotates the secret: the new webhook is created and verified
first, then the old one is deleted.

Options:
  --url URL            public URL of upbus's POST /webhook (at most 300 characters)
  --port N             local port of upbus serve, for ngrok (default PORT, else 8080)
  --path PATH          path of the webhook route, appended to a tunnel URL (default /webhook)
  --domain NAME        ngrok domain for the in-process tunnel (optional)
  --description TEXT   webhook description, at most 64 characters (default "upbus")
  --replace            delete the webhooks upbus registered for other (stale) URLs
  --timeout SECONDS    how long to wait for the PING to be delivered (default 30)
  --data-dir DIR       where webhooks.json is kept (default DATA_DIR, else ./data)

Environment: UP_API_TOKEN (required), UP_API_BASE, DATA_DIR, PORT, NGROK_AUTHTOKEN`;

/** The parts of `@ngrok/ngrok` this command uses. */
export interface NgrokModule {
  /** Opens a tunnel forwarding to local port `addr`; its `url()` is the public URL. */
  forward(config: { addr: number; authtoken: string; domain?: string }): Promise<{
    url(): string | null;
    close(): Promise<void>;
  }>;
}

/** Options for {@linkcode createRegisterWebhookCommand}. */
export interface RegisterWebhookCommandOptions extends Partial<CliContext> {
  /** Loads the ngrok SDK. Default a dynamic `import("@ngrok/ngrok")`. */
  loadNgrok?: () => Promise<NgrokModule>;
  /** The ngrok agent's API. Default `http://127.0.0.1:4040`. */
  ngrokAgentApi?: string;
  /** Polling interval while waiting for the PING, in milliseconds. Default 500. */
  pollMs?: number;
}

interface Options {
  url?: string;
  port: number;
  path: string;
  domain?: string;
  description: string;
  replace: boolean;
  timeoutMs: number;
  dataDir: string;
}

/** A public URL, and the tunnel to close when done (if this process opened one). */
interface PublicUrl {
  url: string;
  source: "--url" | "ngrok agent" | "ngrok tunnel";
  close?: () => Promise<void>;
}

function parse(args: string[], context: CliContext): Options {
  const { values } = parseFlags(args, {
    url: { type: "string" },
    port: { type: "string" },
    path: { type: "string" },
    domain: { type: "string" },
    description: { type: "string" },
    replace: { type: "boolean" },
    timeout: { type: "string" },
    "data-dir": { type: "string" },
  });
  const port = wholeNumber(values.port ?? context.env("PORT"), {
    flag: "port",
    fallback: 8080,
    min: 1,
    max: 65535,
  });
  const timeout = wholeNumber(values.timeout, { flag: "timeout", fallback: 30, max: 3600 });
  const path = values.path ?? "/webhook";
  return {
    url: values.url,
    port,
    path: path.startsWith("/") ? path : `/${path}`,
    domain: values.domain,
    description: values.description ?? "upbus",
    replace: values.replace ?? false,
    timeoutMs: timeout * 1000,
    dataDir: values["data-dir"] ?? context.env("DATA_DIR") ?? "./data",
  };
}

/** Step 1: the token works (`GET /util/ping`). */
async function checkToken(up: UpClient, context: CliContext): Promise<void> {
  await up.ping();
  context.out(`✓ Token accepted by ${up.baseUrl}`);
}

/** The https tunnel to `port` of an ngrok agent running here, if any. */
async function ngrokAgentUrl(
  options: Options,
  context: CliContext,
  agentApi: string,
): Promise<string | null> {
  let tunnels: Array<{ public_url?: string; proto?: string; config?: { addr?: string } }>;
  try {
    const response = await context.fetch(`${agentApi}/api/tunnels`, {
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return null;
    }
    tunnels = (await response.json()).tunnels ?? [];
  } catch {
    return null;
  }
  const match = tunnels.find((tunnel) =>
    tunnel.proto === "https" && typeof tunnel.public_url === "string" &&
    new RegExp(`(^|:)${options.port}$`).test(tunnel.config?.addr ?? "")
  );
  if (match === undefined) {
    if (tunnels.length > 0) {
      context.err(
        `! An ngrok agent is running, but none of its tunnels goes to port ${options.port}`,
      );
    }
    return null;
  }
  return match.public_url!.replace(/\/+$/, "") + options.path;
}

/** An ngrok tunnel to `port`, opened in this process with the ngrok SDK. */
async function ngrokTunnel(
  options: Options,
  authtoken: string,
  loadNgrok: () => Promise<NgrokModule>,
): Promise<PublicUrl> {
  let ngrok: NgrokModule;
  try {
    ngrok = await loadNgrok();
  } catch (error) {
    throw new Error(
      `Cannot open an ngrok tunnel: the ngrok add-on could not load (${
        error instanceof Error ? error.message.split("\n")[0] : error
      }), pass --url, or run the ngrok agent (ngrok http ${options.port}) and try again (under deno run the add-on needs --allow-read --allow-ffi)`,
    );
  }
  let listener;
  try {
    listener = await ngrok.forward({
      addr: options.port,
      authtoken,
      ...(options.domain ? { domain: options.domain } : {}),
    });
  } catch (error) {
    throw new Error(
      `Cannot open an ngrok tunnel: ${
        error instanceof Error ? error.message : error
      }, check NGROK_AUTHTOKEN, or pass --url`,
    );
  }
  const url = listener.url();
  if (url === null) {
    await listener.close();
    throw new Error("Cannot open an ngrok tunnel: ngrok gave no URL");
  }
  return {
    url: url.replace(/\/+$/, "") + options.path,
    source: "ngrok tunnel",
    close: () => listener.close(),
  };
}

/** Step 2: a public URL that reaches upbus's POST /webhook. */
async function findPublicUrl(
  options: Options,
  context: CliContext,
  command: RegisterWebhookCommandOptions,
): Promise<PublicUrl> {
  if (options.url !== undefined) return { url: options.url, source: "--url" };
  const agent = await ngrokAgentUrl(
    options,
    context,
    command.ngrokAgentApi ?? "http://127.0.0.1:4040",
  );
  if (agent !== null) return { url: agent, source: "ngrok agent" };
  const authtoken = context.env("NGROK_AUTHTOKEN")?.trim();
  if (authtoken) {
    const loadNgrok = command.loadNgrok ??
      (async () => (await import("@ngrok/ngrok")) as unknown as NgrokModule);
    return await ngrokTunnel(options, authtoken, loadNgrok);
  }
  throw new UsageError(
    `no public URL: pass --url, start the ngrok agent (ngrok http ${options.port}), or set NGROK_AUTHTOKEN`,
  );
}

/** Step 3 (--replace): delete the webhooks upbus registered for other URLs. */
async function deleteStaleWebhooks(
  up: UpClient,
  options: Options,
  url: string,
  context: CliContext,
): Promise<void> {
  const state = await readWebhookState(options.dataDir);
  const stale = state.webhooks.filter((entry) => entry.url !== url);
  if (stale.length === 0) return;
  await retireWebhooks(up, options.dataDir, stale, context);
}

/** Deletes webhooks at Up (already gone is fine) and drops them from the state file. */
async function retireWebhooks(
  up: UpClient,
  dataDir: string,
  entries: WebhookStateEntry[],
  context: CliContext,
): Promise<void> {
  // Their logs go with them: what Up could not deliver to them is read into the store first.
  await recoverBeforeDelete(up, {
    dataDir,
    webhookIds: entries.map((entry) => entry.id),
    out: context.out,
  });
  for (const entry of entries) {
    try {
      await up.webhooks.delete(entry.id);
    } catch (error) {
      if (!(error instanceof UpNotFoundError)) throw error;
    }
    const state = await readWebhookState(dataDir);
    state.webhooks = state.webhooks.filter((candidate) => candidate.id !== entry.id);
    await writeWebhookState(dataDir, state);
    context.out(`✓ Deleted old webhook ${entry.id} (${entry.url})`);
  }
}

/** Step 4: create the webhook. */
async function createWebhook(
  up: UpClient,
  url: string,
  options: Options,
  context: CliContext,
): Promise<WebhookResource> {
  const webhook = await up.webhooks.create({ url, description: options.description });
  if (!webhook.attributes.secretKey) {
    await up.webhooks.delete(webhook.id).catch(() => {});
    throw new UpApiError("Cannot create webhook: Up returned no secretKey");
  }
  context.out(`✓ Created webhook ${webhook.id} for ${url}`);
  return webhook;
}

/** Step 5: keep the secret (never printed); if that fails, delete the webhook again. */
async function storeSecret(
  up: UpClient,
  webhook: WebhookResource,
  options: Options,
  context: CliContext,
): Promise<void> {
  try {
    const state = await readWebhookState(options.dataDir);
    state.webhooks.push({
      id: webhook.id,
      url: webhook.attributes.url,
      description: webhook.attributes.description ?? null,
      secretKey: webhook.attributes.secretKey!,
      createdAt: webhook.attributes.createdAt,
    });
    await writeWebhookState(options.dataDir, state);
  } catch (error) {
    await up.webhooks.delete(webhook.id).catch(() => {});
    throw new Error(
      `Cannot store the webhook secret in ${webhookStatePath(options.dataDir)}: ${
        error instanceof Error ? error.message : error
      } (the webhook was deleted again)`,
      { cause: error },
    );
  }
  context.out(`✓ Secret stored in ${webhookStatePath(options.dataDir)} (mode 0600, not shown)`);
}

/** Step 6: send a PING and wait for its delivery log. */
async function pingAndWait(
  up: UpClient,
  webhook: WebhookResource,
  options: Options,
  context: CliContext,
  pollMs: number,
): Promise<{ delivered: boolean; log: WebhookDeliveryLogResource | null }> {
  const ping = await up.webhooks.ping(webhook.id);
  context.out(`… PING ${ping.data.id} sent, waiting up to ${options.timeoutMs / 1000} s for it`);
  return await waitForDelivery(up, webhook.id, {
    eventId: ping.data.id,
    timeoutMs: options.timeoutMs,
    pollMs,
    sleep: context.sleep,
    now: context.now,
  });
}

function describeFailure(log: WebhookDeliveryLogResource | null, options: Options): string {
  if (log === null) return `no delivery attempt was logged within ${options.timeoutMs / 1000} s`;
  const response = log.attributes.response;
  return response === null
    ? `${log.attributes.deliveryStatus}: Up could not reach the URL`
    : `${log.attributes.deliveryStatus}: HTTP ${response.statusCode} ${
      response.body.slice(0, 300)
    }`;
}

/**
 * Creates the `register-webhook` command.
 *
 * @param options Parts of the outside world to replace, the ngrok loader and the poll interval.
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createRegisterWebhookCommand } from "./register_webhook.ts";
 * if (createRegisterWebhookCommand().name !== "register-webhook") throw new Error("unexpected");
 * ```
 */
export function createRegisterWebhookCommand(options: RegisterWebhookCommandOptions = {}): Command {
  const { loadNgrok: _l, ngrokAgentApi: _a, pollMs: _p, ...overrides } = options;
  return {
    name: "register-webhook",
    summary: "register this upbus with Up (token check, public URL, secret kept, PING verified)",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const parsed = parse(args, context);
      let tunnel: PublicUrl | undefined;
      try {
        const up = commandUpClient(context, "register-webhook");
        await checkToken(up, context);
        tunnel = await findPublicUrl(parsed, context, options);
        const url = tunnel.url;
        context.out(`✓ Public URL ${url} (from ${tunnel.source})`);
        if (parsed.replace) await deleteStaleWebhooks(up, parsed, url, context);
        const previous = (await readWebhookState(parsed.dataDir)).webhooks
          .filter((entry) => entry.url === url);
        const webhook = await createWebhook(up, url, parsed, context);
        await storeSecret(up, webhook, parsed, context);
        const outcome = await pingAndWait(up, webhook, parsed, context, options.pollMs ?? 500);
        if (!outcome.delivered) {
          context.out(`✗ The PING did not reach ${url}: ${describeFailure(outcome.log, parsed)}`);
          context.out(
            previous.length > 0
              ? `  The previous webhook for this URL is kept. Is upbus serve running and reachable there? Then run this again.`
              : `  The webhook stays registered. Is upbus serve running and reachable there? Check with: deno task webhooks logs ${webhook.id}`,
          );
          return 1;
        }
        context.out(`✓ PING delivered to ${url} (HTTP 200): upbus verified it`);
        if (previous.length > 0) {
          await retireWebhooks(up, parsed.dataDir, previous, context);
          context.out(`✓ Secret rotated: only the new webhook's secret remains`);
        }
        context.out(`Done: Up now delivers events for this account to ${url}.`);
        context.out("Next: deno task webhooks list   (deliveries and their status)");
        if (tunnel.close !== undefined) {
          context.out("The ngrok tunnel stays open while this runs; press Ctrl-C to close it.");
          await context.stopped();
        }
        return 0;
      } catch (error) {
        if (error instanceof UsageError) throw error;
        context.err(`upbus register-webhook: ${error instanceof Error ? error.message : error}`);
        return 1;
      } finally {
        await tunnel?.close?.();
      }
    },
  };
}

/** The `register-webhook` command. */
export const registerWebhookCommand: Command = createRegisterWebhookCommand();

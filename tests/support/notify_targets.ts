/**
 * @module Local notification targets
 * One loopback HTTP server standing in for the SaaS targets that cannot be reached from here:
 * ntfy (JSON publish), Telegram Bot API `sendMessage` and Discord Execute Webhook. Each route
 * checks the request shape those services document and refuses anything else with 400, as they
 * do. The signed-webhook route verifies with the Standard Webhooks reference library
 * (`standardwebhooks` on npm), not upbus's code. Faults (429 with Retry-After, 5xx) can be queued.
 */
import { Webhook } from "standardwebhooks";

/** One request a target accepted. */
export interface Received {
  /** `ntfy`, `webhook`, `telegram` or `discord`. */
  kind: string;
  /** The parsed JSON body. */
  body: Record<string, unknown>;
  /** The request headers. */
  headers: Record<string, string>;
  /** When it arrived, epoch ms. */
  at: number;
}

/** A queued fault: the status and headers of the next answer of a route. */
export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** The running server. */
export interface LocalTargets {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** What each route accepted, in order. */
  received: Received[];
  /** Every attempt, accepted or not, with its kind and time. */
  attempts: Array<{ kind: string; at: number; status: number }>;
  /** Queues faults for a route (answered before anything is accepted). */
  fail(kind: string, ...faults: Fault[]): void;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Options for {@linkcode serveLocalTargets}. */
export interface LocalTargetsOptions {
  /** The signed webhook's `whsec_` secret. */
  webhookSecret: string;
  /** The Telegram bot token expected in the path. */
  telegramToken: string;
  /** The Discord webhook id and token expected in the path. */
  discord: { id: string; token: string };
}

function bad(reason: string): Response {
  return Response.json({ error: reason }, { status: 400 });
}

const isString = (value: unknown) => typeof value === "string" && value.length > 0;

/**
 * Starts the local targets on a free loopback port.
 *
 * @param options The secrets each route checks.
 * @returns The running server.
 */
export function serveLocalTargets(options: LocalTargetsOptions): LocalTargets {
  const received: Received[] = [];
  const attempts: LocalTargets["attempts"] = [];
  const faults = new Map<string, Fault[]>();
  const verifier = new Webhook(options.webhookSecret);

  async function route(request: Request): Promise<[string, Response]> {
    const url = new URL(request.url);
    const text = await request.text();
    const headers = Object.fromEntries(request.headers);
    const kind = url.pathname === "/ntfy/"
      ? "ntfy"
      : url.pathname === "/hook"
      ? "webhook"
      : url.pathname.startsWith("/telegram/")
      ? "telegram"
      : url.pathname.startsWith("/discord/")
      ? "discord"
      : "unknown";
    const fault = faults.get(kind)?.shift();
    if (fault) {
      return [
        kind,
        new Response(fault.body ?? "", { status: fault.status, headers: fault.headers }),
      ];
    }
    if (request.method !== "POST") return [kind, new Response(null, { status: 405 })];
    let body: Record<string, unknown>;
    if (kind !== "webhook") {
      if (!request.headers.get("content-type")?.startsWith("application/json")) {
        return [kind, bad("content-type must be application/json")];
      }
    }
    try {
      body = JSON.parse(text);
    } catch {
      return [kind, bad("body is not JSON")];
    }
    if (kind === "ntfy") {
      // https://docs.ntfy.sh/publish/#publish-as-json
      if (!isString(body.topic)) return [kind, bad("topic is required")];
      if (body.message !== undefined && typeof body.message !== "string") {
        return [kind, bad("message must be a string")];
      }
      if (body.title !== undefined && typeof body.title !== "string") {
        return [kind, bad("title must be a string")];
      }
      if (body.tags !== undefined && !(Array.isArray(body.tags) && body.tags.every(isString))) {
        return [kind, bad("tags must be an array of strings")];
      }
      const priority = body.priority;
      if (
        priority !== undefined &&
        !(Number.isInteger(priority) && (priority as number) >= 1 && (priority as number) <= 5)
      ) {
        return [kind, bad("priority must be 1 to 5")];
      }
      if (body.click !== undefined && !URL.canParse(String(body.click))) {
        return [kind, bad("click must be a URL")];
      }
      received.push({ kind, body, headers, at: Date.now() });
      return [
        kind,
        Response.json({
          id: crypto.randomUUID().slice(0, 12),
          time: Math.floor(Date.now() / 1000),
          event: "message",
          topic: body.topic,
          message: body.message,
        }),
      ];
    }
    if (kind === "webhook") {
      try {
        verifier.verify(text, headers);
      } catch (error) {
        return [kind, new Response((error as Error).message, { status: 401 })];
      }
      received.push({ kind, body, headers, at: Date.now() });
      return [kind, new Response(null, { status: 204 })];
    }
    if (kind === "telegram") {
      // https://core.telegram.org/bots/api#sendmessage
      if (url.pathname !== `/telegram/bot${options.telegramToken}/sendMessage`) {
        return [
          kind,
          Response.json({ ok: false, error_code: 401, description: "Unauthorized" }, {
            status: 401,
          }),
        ];
      }
      if (!(isString(body.chat_id) || Number.isInteger(body.chat_id))) {
        return [kind, bad("Bad Request: chat_id is empty")];
      }
      if (!isString(body.text) || (body.text as string).length > 4096) {
        return [kind, bad("Bad Request: text must be 1-4096 characters")];
      }
      received.push({ kind, body, headers, at: Date.now() });
      return [
        kind,
        Response.json({
          ok: true,
          result: { message_id: received.length, chat: { id: body.chat_id }, text: body.text },
        }),
      ];
    }
    if (kind === "discord") {
      // https://discord.com/developers/docs/resources/webhook#execute-webhook
      const { id, token } = options.discord;
      if (url.pathname !== `/discord/api/webhooks/${id}/${token}`) {
        return [kind, Response.json({ message: "Unknown Webhook", code: 10015 }, { status: 404 })];
      }
      const content = body.content;
      const embeds = body.embeds;
      if (content === undefined && embeds === undefined) {
        return [kind, bad("Cannot send an empty message")];
      }
      if (content !== undefined && (typeof content !== "string" || content.length > 2000)) {
        return [kind, bad("content must be a string of at most 2000 characters")];
      }
      if (
        embeds !== undefined &&
        !(Array.isArray(embeds) && embeds.length <= 10 &&
          embeds.every((embed) => String(embed?.title ?? "").length <= 256))
      ) {
        return [kind, bad("embeds must be at most 10, titles at most 256 characters")];
      }
      received.push({ kind, body, headers, at: Date.now() });
      const wait = url.searchParams.get("wait") === "true";
      return [
        kind,
        wait
          ? Response.json({ id: String(received.length), content })
          : new Response(null, { status: 204 }),
      ];
    }
    return [kind, new Response(null, { status: 404 })];
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const [kind, response] = await route(request);
    attempts.push({ kind, at: Date.now(), status: response.status });
    return response;
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    attempts,
    fail(kind, ...more) {
      faults.set(kind, [...(faults.get(kind) ?? []), ...more]);
    },
    close: () => server.shutdown(),
  };
}

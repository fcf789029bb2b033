/**
 * The public listener (the edge): HTTP/1.1 with timeouts, connection caps and refusals that cost
 * little, running a fetch handler (the Hono app's `app.fetch`).
 *
 * Why `node:http` and not `Deno.serve`: `Deno.serve` (Deno 2.9) has no option for a header
 * timeout, an idle timeout, a whole-request timeout or a connection cap, and after a refusal it
 * keeps the connection and discards the rest of the body itself. Deno's `node:http` server has
 * all of them (`headersTimeout`, `requestTimeout`, `keepAliveTimeout`, a per-connection hook, a
 * strict llhttp-style parser that refuses smuggling shapes, and `checkContinue`), measured here on
 * Deno 2.9.6 (docs/edge.md). Hand-writing an HTTP parser on `Deno.listen` was the alternative; a
 * parser that refuses every smuggling shape is the part not to write again.
 *
 * What this layer adds: a cap on connections in total and per client address (refused as soon as
 * accepted, before any byte is parsed); `Connection: close` and no further reading when the body
 * was not read (a 413, a 401 on headers alone, ...); `100 Continue` only when the app reads the
 * body, so a declared length over the cap is refused without it; and a body stream that ends in a
 * {@linkcode BodyIncompleteError} (never a 500) when the client hangs up, the chunking is malformed
 * or the whole-request timeout passes.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import type { Socket } from "node:net";
import { edgeRequest } from "./edge_request.ts";
import type { BodyIncompleteReason } from "./read_body.ts";

/** A refusal made by the edge itself, before the app saw a request. */
export type EdgeRefusal =
  | "connection_limit"
  | "client_connection_limit"
  | "evicted"
  | "headers_timeout"
  | "malformed_request"
  | "headers_too_large";

/** Timeouts and caps of the public listener. */
export interface EdgeLimits {
  /** Time from a connection's start (or its previous response) until a request's headers are
   * complete, in ms; a connection that sends nothing is closed after it too. */
  headersTimeoutMs: number;
  /** Time until the whole request, headers and body, has arrived, in ms. At least
   * `headersTimeoutMs`. */
  requestTimeoutMs: number;
  /** How long a kept-alive connection may wait for its next request, in ms. */
  idleTimeoutMs: number;
  /** Most connections open at once. At the cap a new connection takes the place of the oldest
   * one whose request has not fully arrived; when every request has, it is closed at once. */
  maxConnections: number;
  /** Most connections open at once from one client address. */
  maxConnectionsPerClient: number;
}

/** Options for {@linkcode serveEdge}. */
export interface EdgeOptions extends EdgeLimits {
  /** The address to listen on (`HOST`). */
  hostname: string;
  /** The port to listen on (`PORT`); 0 picks a free one. */
  port: number;
  /** Told of every refusal made before the app saw a request; default none. */
  onRefusal?: (reason: EdgeRefusal, fields: { client: string; status?: number }) => void;
  /** How often timeouts are checked, in ms; default 250 (a timeout fires up to this late). */
  checkIntervalMs?: number;
}

/** A running public listener. */
export interface EdgeServer {
  /** Where it listens (the port chosen, when 0 was asked for). */
  addr: Deno.NetAddr;
  /** Connections open now. */
  connections(): number;
  /** Bytes read from clients' connections since start, request heads and bodies together. */
  bytesReceived(): number;
  /** Stops accepting and resolves once every connection is closed (idle ones at once). */
  shutdown(): Promise<void>;
  /** Closes every connection now, in flight or not. */
  closeAll(): void;
}

/** What answers each request the listener lets through: `app.fetch` of a Hono app. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** What the edge knows about one connection. */
interface ConnectionState {
  client: string;
  /** Set while the app handles a request on this connection. */
  inFlight: boolean;
  /** The request in flight, to tell a body still arriving from one fully received. */
  request?: http.IncomingMessage;
  /** Why the parser or a timeout ended the connection, for the body stream's error. */
  failure?: BodyIncompleteReason;
}

const STATE = Symbol("upbus.edge");
type TrackedSocket = Socket & { [STATE]?: ConnectionState };

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

/** A minimal raw answer for a request the app never saw, then the connection is closed. */
function rawRefusal(socket: Socket, status: number, code: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify({ error: { code, message: `Cannot read request: ${code}` } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  // The client has had its answer; a client that keeps sending is not waited for.
  setTimeout(() => socket.destroy(), 1000).unref();
}

function clientAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? "unknown";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

/** Content types sent as a string (UTF-8). */
const TEXTUAL = /^(?:application\/json|text\/)/i;

async function respond(
  handler: FetchHandler,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  expectsContinue: boolean,
  closing: () => boolean,
): Promise<void> {
  const socket = req.socket as TrackedSocket;
  const state = socket[STATE]!;
  state.inFlight = true;
  state.request = req;
  try {
    let response: Response;
    try {
      response = await handler(
        edgeRequest(req, res, { failure: () => state.failure, expectsContinue }),
      );
    } catch {
      response = Response.json({
        error: { code: "bad_request", message: "Cannot read request: not a valid HTTP request" },
      }, { status: 400 });
    }
    // The app's answers are JSON or text: as a string, node:http sends the head and the body in
    // one write (a buffer would take a second one).
    const contentType = response.headers.get("content-type") ?? "";
    const body = TEXTUAL.test(contentType)
      ? await response.text()
      : new Uint8Array(await response.arrayBuffer());
    if (res.headersSent || socket.destroyed || !socket.writable) return;
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => headers[name] = value);
    headers["content-length"] = String(
      typeof body === "string" ? Buffer.byteLength(body) : body.byteLength,
    );
    // A body not read to its end is not read at all: the connection closes after the answer, so
    // nothing more of it is read (node:http destroys the socket once the answer is written).
    if (!req.complete || closing()) headers["connection"] = "close";
    res.writeHead(response.status, headers);
    res.end(body);
  } finally {
    state.inFlight = false;
    state.request = undefined;
  }
}

/**
 * Serves `handler` on `hostname:port` with the edge's limits.
 *
 * @param handler The app's fetch function.
 * @param options Address, limits and the refusal callback.
 * @returns The running listener, once it listens.
 * @throws {Deno.errors.AddrInUse} (as a node error) if the port is taken.
 *
 * @example
 * ```ts ignore
 * import { serveEdge } from "./edge.ts";
 * const edge = await serveEdge(() => new Response("ok"), {
 *   hostname: "127.0.0.1", port: 0, headersTimeoutMs: 10_000, requestTimeoutMs: 20_000,
 *   idleTimeoutMs: 5_000, maxConnections: 128, maxConnectionsPerClient: 32,
 * });
 * await edge.shutdown();
 * ```
 */
export async function serveEdge(handler: FetchHandler, options: EdgeOptions): Promise<EdgeServer> {
  const onRefusal = options.onRefusal ?? (() => {});
  const server = http.createServer({
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.idleTimeoutMs,
    connectionsCheckingInterval: options.checkIntervalMs ?? 250,
  });
  const open = new Set<TrackedSocket>();
  const perClient = new Map<string, number>();
  let closedBytes = 0;

  /** The oldest connection whose request has not fully arrived (idle, headers or body still
   * coming): what a slow or idle client holds. `open` keeps connections in arrival order. */
  function oldestUnfinished(): TrackedSocket | undefined {
    for (const socket of open) {
      const state = socket[STATE]!;
      if (!state.inFlight || (state.request !== undefined && !state.request.complete)) {
        return socket;
      }
    }
  }

  // Runs before node:http's own connection handling: a connection over a cap costs an accept
  // and a close, nothing parsed, nothing allocated for it.
  server.prependListener("connection", (socket: TrackedSocket) => {
    const client = clientAddress(socket);
    const fromClient = perClient.get(client) ?? 0;
    let refusal: EdgeRefusal | undefined = fromClient >= options.maxConnectionsPerClient
      ? "client_connection_limit"
      : undefined;
    if (refusal === undefined && open.size >= options.maxConnections) {
      // Full: the newest connection is the likeliest to be a sender that sends at once (Up), the
      // oldest unfinished one the likeliest to be holding its place. Holding places then costs
      // an attacker a steady stream of new connections, not a few slow ones.
      const victim = oldestUnfinished();
      if (victim === undefined) refusal = "connection_limit";
      else {
        const state = victim[STATE]!;
        if (state.inFlight) state.failure = "body_evicted"; // the app counts it
        else onRefusal("evicted", { client: state.client });
        victim.destroy();
        open.delete(victim); // its close event comes later; the slot is free now
      }
    }
    if (refusal) {
      socket.destroy();
      onRefusal(refusal, { client });
      return;
    }
    socket[STATE] = { client, inFlight: false };
    open.add(socket);
    perClient.set(client, fromClient + 1);
    socket.once("close", () => {
      closedBytes += socket.bytesRead;
      open.delete(socket);
      const left = (perClient.get(client) ?? 1) - 1;
      if (left === 0) perClient.delete(client);
      else perClient.set(client, left);
    });
  });

  let closing = false;
  const isClosing = () => closing;
  server.on("request", (req, res) => void respond(handler, req, res, false, isClosing));
  // Registered, so node:http does not answer `100 Continue` by itself: the body stream does,
  // when the app reads the body.
  server.on("checkContinue", (req, res) => void respond(handler, req, res, true, isClosing));

  server.on("clientError", (error: Error & { code?: string }, socket: TrackedSocket) => {
    const state = socket[STATE];
    if (state === undefined) return void socket.destroy(); // refused at accept
    const timeout = error.code === "ERR_HTTP_REQUEST_TIMEOUT";
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const hangUp = error.code === "ECONNRESET" || error.code === "EPIPE";
    if (state.inFlight) {
      // The app has the request and reads its body: the body stream errors with this cause and
      // the app answers, counts and logs it. Nothing more is read from this connection.
      state.failure ??= timeout ? "body_timeout" : hangUp ? "body_incomplete" : "body_malformed";
      if (hangUp || state.failure === "body_evicted") socket.destroy(); // nobody to answer
      else rawRefusal(socket, timeout ? 408 : 400, state.failure);
      return;
    }
    if (hangUp) return void socket.destroy(); // nothing to answer, nobody to answer
    const reason: EdgeRefusal = timeout
      ? "headers_timeout"
      : tooLarge
      ? "headers_too_large"
      : "malformed_request";
    const status = timeout ? 408 : tooLarge ? 431 : 400;
    onRefusal(reason, { client: state.client, status });
    rawRefusal(socket, status, reason);
  });

  const { promise: listening, resolve, reject } = Promise.withResolvers<void>();
  server.once("error", reject);
  server.listen(options.port, options.hostname, () => resolve());
  await listening;
  server.off("error", reject);
  const address = server.address() as { address: string; port: number };
  return {
    addr: { transport: "tcp", hostname: address.address, port: address.port },
    connections: () => open.size,
    bytesReceived() {
      let bytes = closedBytes;
      for (const socket of open) bytes += socket.bytesRead;
      return bytes;
    },
    shutdown() {
      closing = true;
      const { promise, resolve } = Promise.withResolvers<void>();
      server.close(() => resolve());
      server.closeIdleConnections();
      // A connection whose request the app has not seen loses nothing by closing now; the ones
      // in flight get their answer, with `Connection: close`.
      for (const socket of open) if (!socket[STATE]?.inFlight) socket.destroy();
      return promise;
    },
    closeAll() {
      server.closeAllConnections();
      for (const socket of open) socket.destroy();
    },
  };
}

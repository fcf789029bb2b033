/**
 * A fetch `Request` for the app, backed by a `node:http` request and built only as far as the app
 * looks at it: method and URL are plain strings, the headers are made on first use, and the body
 * is read straight from the socket by `arrayBuffer()` (no web stream) unless the app asks for
 * `body` as a stream. A whole `Request` is made only if the app touches anything else.
 *
 * Why: a `Request` with a `ReadableStream` body, a `URL` and a `Headers` built for every request
 * cost the public listener about 40 µs of CPU per request and a third more heap than `Deno.serve`,
 * mostly in garbage collection (docs/performance.md). The same approach as `@hono/node-server`'s
 * lightweight request; the object is still an `instanceof Request`.
 *
 * The body keeps the edge's rules: it is read only when the app reads it (so `100 Continue` is
 * sent then, and a body never read is never read), and a body that does not arrive whole ends in a
 * {@linkcode BodyIncompleteError} naming why.
 *
 * @module
 */
import type http from "node:http";
import { BodyIncompleteError, type BodyIncompleteReason } from "./read_body.ts";

/** What the body reader needs to know about the request's connection. */
export interface EdgeBodySource {
  /** Why the parser or a timeout ended the connection, read when the body fails. */
  failure(): BodyIncompleteReason | undefined;
  /** Whether the client sent `Expect: 100-continue`. */
  expectsContinue: boolean;
}

/** Reads the whole body from `req`: resolves with its bytes, or rejects with a
 * {@linkcode BodyIncompleteError} once the request errors or closes before its end. */
function readAll(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  source: EdgeBodySource,
): Promise<Uint8Array<ArrayBuffer>> {
  if (source.expectsContinue) res.writeContinue();
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let settled = false;
    const fail = () => {
      if (settled) return;
      settled = true;
      // The parser's or the timeout's verdict arrives on the socket just after the request
      // errors: wait one turn so that the error names the real cause.
      setTimeout(() => reject(new BodyIncompleteError(source.failure())), 0);
    };
    req.on("data", (chunk: Uint8Array) => {
      if (settled) return;
      chunks.push(chunk);
      total += chunk.byteLength;
    });
    req.on("end", () => {
      if (settled) return;
      settled = true;
      const body = new Uint8Array(total);
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.byteLength;
      }
      resolve(body);
    });
    req.on("error", fail);
    req.on("close", () => {
      if (!req.complete) fail();
    });
    // Closed before the app read it: no event will come, and nobody waits for an answer.
    if (req.destroyed) fail();
    else req.resume();
  });
}

/**
 * The body as a web stream that reads from the socket only when pulled: a body the app never
 * reads is never read. The first pull sends `100 Continue` when the client asked for it.
 */
function bodyStream(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  source: EdgeBodySource,
): ReadableStream<Uint8Array> {
  let attached = false;
  let settled = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!attached) {
        attached = true;
        if (source.expectsContinue) res.writeContinue();
        const fail = () => {
          if (settled) return;
          settled = true;
          setTimeout(() => controller.error(new BodyIncompleteError(source.failure())), 0);
        };
        req.on("data", (chunk: Uint8Array) => {
          if (settled) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        req.on("end", () => {
          if (settled) return;
          settled = true;
          controller.close();
        });
        req.on("error", fail);
        req.on("close", () => {
          if (!req.complete) fail();
        });
        if (req.destroyed) return fail();
      }
      req.resume();
    },
    cancel() {
      settled = true;
      req.pause();
    },
  }, { highWaterMark: 0 });
}

const BASE = "http://upbus.edge";
const NODE = Symbol("upbus.edgeRequest.node");
const FULL = Symbol("upbus.edgeRequest.full");

interface EdgeRequestState {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  source: EdgeBodySource;
  method: string;
  url: string;
  hasBody: boolean;
  headers?: Headers;
  stream?: ReadableStream<Uint8Array> | null;
  used: boolean;
}

type EdgeRequest = Request & { [NODE]: EdgeRequestState; [FULL]?: Request };

function stateOf(request: Request): EdgeRequestState {
  return (request as EdgeRequest)[NODE];
}

function headersOf(state: EdgeRequestState): Headers {
  if (state.headers === undefined) {
    const headers = new Headers();
    const raw = state.req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
    state.headers = headers;
  }
  return state.headers;
}

function streamOf(state: EdgeRequestState): ReadableStream<Uint8Array> | null {
  if (state.stream === undefined) {
    state.stream = state.hasBody && !state.used
      ? bodyStream(state.req, state.res, state.source)
      : null;
  }
  return state.stream;
}

async function bytesOf(state: EdgeRequestState): Promise<Uint8Array<ArrayBuffer>> {
  if (state.used) throw new TypeError("Cannot read body: body is already used");
  if (state.stream) return new Uint8Array(await new Response(state.stream).arrayBuffer());
  state.used = true;
  if (!state.hasBody) return new Uint8Array(0);
  return await readAll(state.req, state.res, state.source);
}

/** The whole `Request`, for anything the light one does not answer itself. */
function fullOf(request: EdgeRequest): Request {
  if (request[FULL] === undefined) {
    const state = request[NODE];
    const body = streamOf(state);
    request[FULL] = new Request(state.url, {
      method: state.method,
      headers: headersOf(state),
      ...(body ? { body } : {}),
    });
  }
  return request[FULL];
}

const prototype: Record<string | symbol, unknown> = {};
const own: PropertyDescriptorMap = {
  method: {
    get(this: Request) {
      return stateOf(this).method;
    },
  },
  url: {
    get(this: Request) {
      return stateOf(this).url;
    },
  },
  headers: {
    get(this: Request) {
      return headersOf(stateOf(this));
    },
  },
  body: {
    get(this: Request) {
      return streamOf(stateOf(this));
    },
  },
  bodyUsed: {
    get(this: Request) {
      const state = stateOf(this);
      return state.used || (state.stream?.locked ?? false);
    },
  },
  arrayBuffer: {
    value(this: Request) {
      return bytesOf(stateOf(this)).then((bytes) => bytes.buffer);
    },
  },
  bytes: {
    value(this: Request) {
      return bytesOf(stateOf(this));
    },
  },
  text: {
    value(this: Request) {
      return bytesOf(stateOf(this)).then((bytes) => new TextDecoder().decode(bytes));
    },
  },
  json: {
    value(this: Request) {
      return bytesOf(stateOf(this)).then((bytes) => JSON.parse(new TextDecoder().decode(bytes)));
    },
  },
};
// Everything else (signal, clone, formData, ...) from a whole Request made on first use.
for (const name of Object.getOwnPropertyNames(Request.prototype)) {
  if (name === "constructor" || name in own) continue;
  const descriptor = Object.getOwnPropertyDescriptor(Request.prototype, name)!;
  if (typeof descriptor.value === "function") {
    own[name] = {
      value(this: EdgeRequest, ...args: unknown[]) {
        const full = fullOf(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
        return full[name](...args);
      },
    };
  } else if (descriptor.get) {
    own[name] = {
      get(this: EdgeRequest) {
        return (fullOf(this) as unknown as Record<string, unknown>)[name];
      },
    };
  }
}
Object.defineProperties(prototype, own);
Object.setPrototypeOf(prototype, Request.prototype);

/**
 * Makes the app's `Request` for a `node:http` request.
 *
 * @param req The request as `node:http` parsed it.
 * @param res Its response (for `100 Continue`).
 * @param source The connection's failure cause and whether the client expects `100 Continue`.
 * @returns A `Request` (by prototype) whose body is read from `req` only when the app reads it.
 *
 * @example
 * ```ts ignore
 * const request = edgeRequest(req, res, { failure: () => undefined, expectsContinue: false });
 * const bytes = await request.arrayBuffer();
 * ```
 */
export function edgeRequest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  source: EdgeBodySource,
): Request {
  const method = req.method ?? "GET";
  const target = req.url ?? "/";
  const hasBody = method !== "GET" && method !== "HEAD" &&
    (req.headers["transfer-encoding"] !== undefined ||
      Number(req.headers["content-length"] ?? 0) > 0);
  const state: EdgeRequestState = {
    req,
    res,
    source,
    method,
    url: target.startsWith("/") ? `${BASE}${target}` : new URL(target, BASE).href,
    hasBody,
    used: false,
  };
  const request = Object.create(prototype) as EdgeRequest;
  request[NODE] = state;
  return request;
}

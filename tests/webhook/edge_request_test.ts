/**
 * The edge's light `Request`: over a real socket, the app gets an `instanceof Request` whose
 * method, URL, headers and body read like a whole one's, whichever way the app reads the body.
 */
import assert from "node:assert/strict";
import { serveEdge } from "../../lib/webhook/edge.ts";

const LIMITS = {
  hostname: "127.0.0.1",
  port: 0,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  idleTimeoutMs: 1_000,
  maxConnections: 16,
  maxConnectionsPerClient: 16,
};

/** Serves `handler`, runs `fn` with the base URL, then shuts the listener down. */
async function withEdge(
  handler: (request: Request) => Promise<Response>,
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const edge = await serveEdge(handler, LIMITS);
  try {
    await fn(`http://127.0.0.1:${edge.addr.port}`);
  } finally {
    edge.closeAll();
    await edge.shutdown();
  }
}

Deno.test("the app's request is a Request with the client's method, URL, headers and body", async () => {
  let seen: Record<string, unknown> = {};
  await withEdge(async (request) => {
    seen = {
      isRequest: request instanceof Request,
      method: request.method,
      url: request.url,
      signature: request.headers.get("X-Up-Authenticity-Signature"),
      aborted: request.signal.aborted, // answered by a whole Request made on demand
      text: await request.text(),
      usedAfter: request.bodyUsed,
    };
    const again = await request.arrayBuffer().then(() => "read twice", (e) => e.name);
    return Response.json({ again });
  }, async (base) => {
    const response = await fetch(`${base}/webhook?x=1`, {
      method: "POST",
      headers: { "X-Up-Authenticity-Signature": "abc" },
      body: '{"data":{}}',
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.deepEqual(await response.json(), { again: "TypeError" });
  });
  assert.deepEqual(seen, {
    isRequest: true,
    method: "POST",
    url: "http://upbus.edge/webhook?x=1",
    signature: "abc",
    aborted: false,
    text: '{"data":{}}',
    usedAfter: true,
  });
});

Deno.test("a chunked body reaches the app through request.body, and a GET has none", async () => {
  const bodies: Array<string | null> = [];
  await withEdge(async (request) => {
    if (request.body === null) bodies.push(null);
    else bodies.push(await new Response(request.body).text());
    return new Response(new Uint8Array([0, 255, 1]), {
      headers: { "content-type": "application/octet-stream" },
    });
  }, async (base) => {
    const chunks = ["part one, ", "part two"];
    const stream = ReadableStream.from(chunks.map((chunk) => new TextEncoder().encode(chunk)));
    const posted = await fetch(`${base}/upload`, { method: "POST", body: stream });
    assert.equal(posted.status, 200);
    assert.deepEqual([...await posted.bytes()], [0, 255, 1], "binary answers pass unchanged");
    const got = await fetch(`${base}/upload`);
    assert.equal(got.status, 200);
    await got.body?.cancel();
  });
  assert.deepEqual(bodies, ["part one, part two", null]);
});

Deno.test("a body whose client hung up before the app read it ends in BodyIncompleteError, not a wait", async () => {
  const { promise: outcome, resolve } = Promise.withResolvers<string>();
  await withEdge(async (request) => {
    await new Promise((settle) => setTimeout(settle, 200)); // the client is gone by now
    const result = await Promise.race([
      request.arrayBuffer().then(() => "read", (e) => `${e.name}: ${e.reason}`),
      new Promise<string>((settle) => setTimeout(() => settle("still waiting after 3 s"), 3000)),
    ]);
    resolve(result);
    return new Response("unseen");
  }, async (base) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(base).port) });
    await conn.write(
      new TextEncoder().encode(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
      ),
    );
    conn.close();
    assert.equal(await outcome, "BodyIncompleteError: body_incomplete");
  });
});

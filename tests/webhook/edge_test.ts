/**
 * The public listener under abuse, over real sockets against the real service process: slow and
 * idle connections are closed on time, refused bodies stop flowing, cut and malformed bodies are
 * honest 400s, caps refuse connections, and the log does not grow with the number of refusals.
 */
import assert from "node:assert/strict";
import { SIGNATURE_HEADER, signBody } from "../../lib/webhook/signature.ts";
import { eventBody } from "../support/app.ts";
import { answer, connect, floodChunked, send, trickle } from "../support/raw_http.ts";
import { serviceDataDir, startServiceProcess } from "../support/service_process.ts";

const SECRET = "edge-test-secret";
const MAX_BODY_BYTES = 4096;
/** Timeouts of the service under test, seconds. */
const HEADERS_TIMEOUT = 1;
const REQUEST_TIMEOUT = 2;
const IDLE_TIMEOUT = 1;
/** How late a timeout may fire: node:http checks every 250 ms, plus a loaded CI machine. */
const SLACK_MS = 2000;

async function metric(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(text.match(line)?.[1] ?? 0);
}

/** The metric once it reaches `expected`, or its value after 3 s (counts land just after the
 * connection closes). */
async function settled(url: string, line: RegExp, expected: number): Promise<number> {
  let value = await metric(url, line);
  for (let i = 0; i < 30 && value !== expected; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await metric(url, line);
  }
  return value;
}

async function signedRequest(url: string, id: string): Promise<Response> {
  const body = eventBody({ id, type: "PING" });
  return await fetch(`${url}/webhook`, {
    method: "POST",
    headers: { [SIGNATURE_HEADER]: await signBody(body, SECRET) },
    body,
  });
}

async function withService(
  env: Record<string, string>,
  fn: (service: Awaited<ReturnType<typeof startServiceProcess>>, port: number) => Promise<void>,
): Promise<Array<Record<string, unknown>>> {
  const dataDir = await serviceDataDir();
  const service = await startServiceProcess({
    UP_WEBHOOK_SECRETS: SECRET,
    DATA_DIR: dataDir,
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT),
    REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT),
    IDLE_TIMEOUT_SECONDS: String(IDLE_TIMEOUT),
    ...env,
  });
  try {
    await fn(service, Number(new URL(service.url).port));
  } finally {
    assert.equal(await service.stop(), 0, "SIGTERM is a clean exit");
    await Deno.remove(dataDir, { recursive: true });
  }
  return service.logs;
}

Deno.test("slow-header, slow-body and idle connections are closed within their timeout while a signed request is answered", async () => {
  await withService({}, async (service, port) => {
    const since = performance.now();
    const idle = await connect(port); // sends nothing at all
    const slowHeaders = await connect(port); // one byte every 200 ms
    const slowBody = await connect(port); // headers at once, then the body stalls
    const keptAlive = await connect(port); // one request answered, then nothing
    const dribbling = trickle(
      slowHeaders,
      `POST /webhook HTTP/1.1\r\nHost: x\r\n${"X: y\r\n".repeat(20)}`,
      {
        everyMs: 200,
        pieces: 100,
      },
    );
    await send(slowBody, 'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"data"');
    await send(keptAlive, "GET /webhook HTTP/1.1\r\nHost: x\r\n\r\n");
    const answers = Promise.all(
      [idle, slowHeaders, slowBody, keptAlive].map((conn) =>
        answer(conn, { since, limitMs: 15_000 })
      ),
    );

    const legit = await signedRequest(service.url, "legit-during-slow-clients");
    const answeredAfter = performance.now() - since;
    assert.equal(legit.status, 200, await legit.text());
    assert.ok(
      answeredAfter < HEADERS_TIMEOUT * 1000,
      `answered while the slow connections were still open (${answeredAfter.toFixed(0)} ms)`,
    );

    const [idleAnswer, slowHeadersAnswer, slowBodyAnswer, keptAliveAnswer] = await answers;
    await dribbling;
    const within = (closed: number | undefined, timeoutMs: number, what: string) => {
      assert.ok(closed !== undefined, `${what} was closed`);
      assert.ok(closed >= timeoutMs - 100, `${what} not closed early (${closed.toFixed(0)} ms)`);
      assert.ok(closed <= timeoutMs + SLACK_MS, `${what} closed in time (${closed.toFixed(0)} ms)`);
    };
    within(idleAnswer.closedAfterMs, HEADERS_TIMEOUT * 1000, "a connection that sent nothing");
    within(slowHeadersAnswer.closedAfterMs, HEADERS_TIMEOUT * 1000, "slow headers");
    assert.equal(slowHeadersAnswer.status, 408, slowHeadersAnswer.text);
    within(slowBodyAnswer.closedAfterMs, REQUEST_TIMEOUT * 1000, "a stalled body");
    assert.equal(slowBodyAnswer.status, 408, slowBodyAnswer.text);
    assert.match(slowBodyAnswer.text, /"code":"body_timeout"/);
    assert.equal(
      keptAliveAnswer.status,
      405,
      `its one request was answered: ${keptAliveAnswer.text}`,
    );
    // node:http closes an idle kept-alive connection up to 1 s after keepAliveTimeout
    within(keptAliveAnswer.closedAfterMs, IDLE_TIMEOUT * 1000, "an idle kept-alive connection");

    assert.equal(
      await settled(
        service.url,
        /^upbus_http_refused_total\{reason="headers_timeout"\} (\d+)$/m,
        2,
      ),
      2,
      "headers timeouts counted: the silent connection and the slow headers",
    );
    assert.equal(
      await settled(
        service.url,
        /^upbus_webhooks_rejected_total\{reason="body_timeout"\} (\d+)$/m,
        1,
      ),
      1,
    );
    assert.equal(
      await metric(service.url, /^upbus_events_in_store (\d+)$/m),
      1,
      "only the signed one",
    );
  });
});

Deno.test("an over-cap chunked upload is cut off: 413, Connection: close, and the client's bytes bounded", async () => {
  await withService({}, async (service, port) => {
    const conn = await connect(port);
    const head = `POST /webhook HTTP/1.1\r\nHost: x\r\n${SIGNATURE_HEADER}: ${"0".repeat(64)}\r\n` +
      "Transfer-Encoding: chunked\r\n\r\n";
    const reply = answer(conn, { limitMs: 10_000 });
    const sent = await floodChunked(conn, head, {
      maxBytes: 1024 * 1024 * 1024,
      maxMs: 5000,
    });
    const { status, text, closedAfterMs } = await reply;
    assert.equal(status, 413, text);
    assert.match(text, /^connection: close\r$/im);
    assert.ok(closedAfterMs !== undefined, "the server closed the connection");
    // What a client can push before the server's close reaches it is the two kernels' socket
    // buffers (a few MiB on loopback), not the gigabytes of a connection kept reading.
    assert.ok(sent < 32 * 1024 * 1024, `the client sent ${sent} bytes`);
    console.log(`  client sent ${(sent / 1024 / 1024).toFixed(1)} MiB before the close`);

    const expecting = await connect(port);
    await send(
      expecting,
      `POST /webhook HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n` +
        `Content-Length: ${MAX_BODY_BYTES * 100}\r\n\r\n`,
    );
    const refused = await answer(expecting, { limitMs: 5000 });
    assert.equal(refused.status, 413, refused.text);
    assert.doesNotMatch(refused.text, /100 Continue/, "no 100 Continue for a body refused");

    const fitting = await connect(port);
    const body = eventBody({ id: "expect-continue", type: "PING" });
    await send(
      fitting,
      `POST /webhook HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n` +
        `${SIGNATURE_HEADER}: ${await signBody(
          body,
          SECRET,
        )}\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const continued = answer(fitting, { limitMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await send(fitting, body);
    const accepted = await continued;
    assert.match(accepted.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, accepted.text);
    assert.equal(
      await settled(service.url, /^upbus_webhooks_rejected_total\{reason="too_large"\} (\d+)$/m, 2),
      2,
    );
  });
});

Deno.test("a hang-up mid-body is a 400 body_incomplete, counted, never an error line, nothing stored", async () => {
  const logs = await withService({}, async (service, port) => {
    const body = eventBody({ id: "cut-short", type: "PING" });
    const conn = await connect(port);
    await send(
      conn,
      `POST /webhook HTTP/1.1\r\nHost: x\r\n${SIGNATURE_HEADER}: ${await signBody(
        body,
        SECRET,
      )}\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 40)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    conn.close();
    const counted = /^upbus_webhooks_rejected_total\{reason="body_incomplete"\} (\d+)$/m;
    let seen = 0;
    for (let i = 0; i < 50 && seen === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = await metric(service.url, counted);
    }
    assert.equal(seen, 1);

    const malformed = await connect(port);
    await send(
      malformed,
      `POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
    );
    const reply = await answer(malformed, { limitMs: 5000 });
    assert.equal(reply.status, 400, reply.text);
    assert.match(reply.text, /"code":"body_malformed"/);

    // A 64 KiB chunk extension (a 500 before): the parser takes or refuses it; never a 500.
    const extended = await connect(port);
    await send(
      extended,
      `POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n` +
        `${SIGNATURE_HEADER}: ${"0".repeat(64)}\r\n\r\n2;ext=${
          "e".repeat(64 * 1024)
        }\r\n{}\r\n0\r\n\r\n`,
    );
    const extendedReply = await answer(extended, { limitMs: 5000 });
    assert.ok([400, 401].includes(extendedReply.status), extendedReply.text);
    assert.equal(await metric(service.url, /^upbus_events_in_store (\d+)$/m), 0);
  });
  const refusals = logs.filter((line) =>
    line.msg === "request refused" && String(line.reason).startsWith("body_")
  );
  assert.deepEqual(
    refusals.map((line) => [line.level, line.reason, line.status]),
    [["warn", "body_incomplete", 400], ["warn", "body_malformed", 400]],
  );
  assert.deepEqual(logs.filter((line) => line.level === "error"), []);
});

Deno.test("smuggling shapes and oversized headers are refused before the app, counted and logged", async () => {
  const logs = await withService({}, async (service, port) => {
    const cases: Array<[string, number, string]> = [
      [
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "Content-Length with Transfer-Encoding",
      ],
      [
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
        "two Content-Lengths",
      ],
      ["POST /webhook HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}", 400, "bare LF"],
      [
        `GET /webhook HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
        431,
        "20 kB header",
      ],
    ];
    for (const [request, status, what] of cases) {
      const conn = await connect(port);
      await send(conn, request);
      const reply = await answer(conn, { limitMs: 5000 });
      assert.equal(reply.status, status, `${what}: ${reply.text}`);
      assert.match(reply.text, /^connection: close\r$/im, what);
    }
    assert.equal(
      await settled(
        service.url,
        /^upbus_http_refused_total\{reason="malformed_request"\} (\d+)$/m,
        3,
      ),
      3,
    );
    assert.equal(
      await settled(
        service.url,
        /^upbus_http_refused_total\{reason="headers_too_large"\} (\d+)$/m,
        1,
      ),
      1,
    );
  });
  const first = logs.filter((line) => line.msg === "request refused").map((line) => line.reason);
  assert.deepEqual(first, ["malformed_request", "headers_too_large"]);
  const summary = logs.find((line) => line.msg === "requests refused");
  assert.equal(summary?.count, 2, "the shutdown summary sums the other malformed requests");
});

Deno.test("a connection over the per-client cap is closed at once, and counted", async () => {
  await withService(
    { MAX_CONNECTIONS: "10", MAX_CLIENT_CONNECTIONS: "3" },
    async (service, port) => {
      const held = await Promise.all([1, 2, 3].map(() => connect(port)));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const since = performance.now();
      const refused = await answer(await connect(port), { since, limitMs: 3000 });
      assert.ok(refused.closedAfterMs !== undefined, "closed");
      assert.ok(refused.closedAfterMs < 1000, `at once (${refused.closedAfterMs.toFixed(0)} ms)`);
      assert.equal(refused.text, "", "nothing parsed, nothing answered");
      for (const conn of held) conn.close();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = await signedRequest(service.url, "after-client-cap");
      assert.equal(after.status, 200, "a slot freed is usable again");
      assert.equal(
        await settled(
          service.url,
          /^upbus_http_refused_total\{reason="client_connection_limit"\} (\d+)$/m,
          1,
        ),
        1,
      );
    },
  );
});

Deno.test("at the total cap a new connection takes the place of the oldest one whose request has not arrived", async () => {
  const env = {
    MAX_CONNECTIONS: "3",
    MAX_CLIENT_CONNECTIONS: "10",
    HEADERS_TIMEOUT_SECONDS: "10",
    REQUEST_TIMEOUT_SECONDS: "10",
  };
  const logs = await withService(env, async (service, port) => {
    const since = performance.now();
    const slowBody = await connect(port); // the oldest: its body stalls
    await send(slowBody, "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const idle = await connect(port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const slowHeaders = await connect(port);
    await send(slowHeaders, "POST /webhook HTTP/1.1\r\nHost: x\r\n");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const outcomes = [slowBody, idle, slowHeaders].map((conn) =>
      answer(conn, { since, limitMs: 3000 })
    );

    // Up's deliveries, each on a new connection while the cap is full of slow clients
    let filler: Deno.Conn | undefined;
    for (const id of ["at-the-cap-1", "at-the-cap-2"]) {
      const body = eventBody({ id, type: "PING" });
      const up = await connect(port);
      await send(
        up,
        `POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
          `${SIGNATURE_HEADER}: ${await signBody(body, SECRET)}\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body}`,
      );
      const delivered = await answer(up, { limitMs: 5000 });
      assert.equal(delivered.status, 200, delivered.text);
      // The delivery's connection has closed: a new silent one fills the cap again.
      filler ??= await connect(port);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    filler?.close();

    const [first, second, third] = await Promise.all(outcomes);
    assert.ok(first.closedAfterMs !== undefined && first.closedAfterMs < 2000, "oldest made room");
    assert.ok(second.closedAfterMs !== undefined && second.closedAfterMs < 2000, "then the next");
    assert.equal(third.closedAfterMs, undefined, "the newest slow client stayed");
    const rejected = /^upbus_webhooks_rejected_total\{reason="body_evicted"\} (\d+)$/m;
    assert.equal(await settled(service.url, rejected, 1), 1, "the app counts a body cut short");
    const evicted = /^upbus_http_refused_total\{reason="evicted"\} (\d+)$/m;
    assert.equal(await settled(service.url, evicted, 1), 1, "the edge counts the idle one");
    assert.equal(await metric(service.url, /^upbus_events_in_store (\d+)$/m), 2);
  });
  assert.deepEqual(logs.filter((line) => line.level === "error"), [], "nothing at error level");
});

Deno.test("the log stays under a bound while 3000 forged requests arrive", async () => {
  const forged = 3000;
  const logs = await withService({}, async (service) => {
    const body = eventBody({ id: "forged", type: "PING" });
    const signature = await signBody(body, "not-the-secret");
    let next = 0;
    const statuses = new Map<number, number>();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next++ < forged) {
        const response = await fetch(`${service.url}/webhook`, {
          method: "POST",
          headers: { [SIGNATURE_HEADER]: signature },
          body,
        });
        await response.body?.cancel();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    }));
    assert.deepEqual([...statuses], [[401, forged]]);
    assert.equal(
      await settled(
        service.url,
        /^upbus_webhooks_rejected_total\{reason="mismatch"\} (\d+)$/m,
        forged,
      ),
      forged,
    );
  });
  const about = logs.filter((line) => String(line.msg).startsWith("request"));
  assert.deepEqual(about.map((line) => [line.msg, line.reason, line.count]), [
    ["request refused", "signature_mismatch", undefined],
    ["requests refused", "signature_mismatch", forged - 1],
  ]);
  assert.ok(logs.length < 12, `${logs.length} log lines in all`);
});

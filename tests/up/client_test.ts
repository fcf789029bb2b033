/** Tests of the Up API client, against the Up simulator on a real port. */
import assert from "node:assert/strict";
import {
  createUpClient,
  type RetryNotice,
  upClientFromEnv,
  type UpClientOptions,
} from "../../lib/up/client.ts";
import {
  UpApiError,
  UpAuthError,
  UpBadRequestError,
  UpNetworkError,
  UpNotFoundError,
  UpRateLimitError,
  UpServerError,
} from "../../lib/up/errors.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import type { TransactionStatus } from "../../lib/up/types.ts";

const TOKEN = "up:yeah:client-test-token-0123456789";

/** A client that never really waits, and remembers every wait and retry notice. */
function fastClient(baseUrl: string, options: Partial<UpClientOptions> = {}) {
  const waits: number[] = [];
  const notices: RetryNotice[] = [];
  const client = createUpClient({
    token: TOKEN,
    baseUrl,
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
    onRetry: (notice) => notices.push(notice),
    ...options,
  });
  return { client, waits, notices };
}

async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterator) items.push(item);
  return items;
}

function assertNoToken(text: string, token = TOKEN) {
  assert.ok(!text.includes(token), `the token leaked into: ${text}`);
}

Deno.test("createUpClient() talks to the simulator: ping, pagination, single resources", async (t) => {
  const sim = serveUpSimulator({ port: 0, token: TOKEN, seedTransactions: 25 });
  try {
    const { client } = fastClient(sim.baseUrl);

    await t.step("ping() succeeds and X-RateLimit-Remaining is tracked", async () => {
      assert.equal(client.rateLimitRemaining, null);
      const pong = await client.ping();
      assert.equal(typeof pong.meta.id, "string");
      assert.equal(client.rateLimitRemaining, 999);
    });

    await t.step("listTransactions() follows links.next across pages, newest first", async () => {
      const requests: string[] = [];
      const { client: counting } = fastClient(sim.baseUrl, {
        fetch: (input, init) => {
          requests.push(String(input));
          return fetch(input, init);
        },
      });
      const transactions = await collect(counting.listTransactions({ pageSize: 10 }));
      assert.equal(transactions.length, 25);
      assert.equal(new Set(transactions.map((item) => item.id)).size, 25);
      assert.equal(requests.length, 3);
      assert.match(requests[1], /page%5Bafter%5D=/);
      const times = transactions.map((item) => Date.parse(item.attributes.createdAt));
      assert.deepEqual(times, [...times].sort((a, b) => b - a));
    });

    await t.step("page size is checked before any request", () => {
      assert.throws(() => client.listTransactions({ pageSize: 101 }), RangeError);
      assert.throws(() => client.listAccounts({ pageSize: 0 }), RangeError);
    });

    await t.step("filter[since] and filter[until] narrow an account's transactions", async () => {
      const [spending] = await collect(client.listAccounts({ accountType: "TRANSACTIONAL" }));
      const all = await collect(client.listAccountTransactions(spending.id, { pageSize: 100 }));
      const middle = Date.parse(all[10].attributes.createdAt);
      const since = await collect(
        client.listAccountTransactions(spending.id, { since: new Date(middle) }),
      );
      assert.equal(since.length, 11);
      const until = await collect(
        client.listTransactions({ until: new Date(middle), pageSize: 7 }),
      );
      assert.equal(until.length, 14);
    });

    await t.step("getAccount() and getTransaction() return single resources", async () => {
      const [account] = await collect(client.listAccounts());
      assert.equal((await client.getAccount(account.id)).id, account.id);
      const [transaction] = await collect(client.listTransactions({ pageSize: 1 }));
      const fetched = await client.getTransaction(transaction.id);
      assert.equal(fetched.attributes.description, transaction.attributes.description);
    });

    await t.step("a missing resource is an UpNotFoundError", async () => {
      await assert.rejects(client.getTransaction("no-such-id"), UpNotFoundError);
    });

    await t.step("a refused parameter is an UpBadRequestError naming it", async () => {
      const error = await collect(
        client.listTransactions({ status: "PENDING" as TransactionStatus }),
      ).catch((error) => error);
      assert.ok(error instanceof UpBadRequestError);
      assert.equal(error.parameter, "filter[status]");
      assert.match(error.message, /^Cannot list transactions: "filter\[status\]" was refused/);
    });
  } finally {
    await sim.shutdown();
  }
});

Deno.test("createUpClient() manages webhooks and validates input before calling", async (t) => {
  const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [] });
  try {
    let requests = 0;
    const { client } = fastClient(sim.baseUrl, {
      fetch: (input, init) => {
        requests++;
        return fetch(input, init);
      },
    });

    await t.step(
      "a URL over 300 characters or a description over 64 is refused locally",
      async () => {
        const before = requests;
        await assert.rejects(
          client.webhooks.create({ url: `https://example.test/${"a".repeat(300)}` }),
          /at most 300 are allowed/,
        );
        await assert.rejects(
          client.webhooks.create({ url: "https://example.test/hook", description: "d".repeat(65) }),
          /at most 64 are allowed/,
        );
        await assert.rejects(client.webhooks.create({ url: "ftp://example.test/" }), RangeError);
        assert.equal(requests, before);
      },
    );

    await t.step("create() returns the secret once; get() and list() do not", async () => {
      const created = await client.webhooks.create({
        url: "http://127.0.0.1:9/hook",
        description: "upbus test",
      });
      assert.equal(created.attributes.secretKey?.length, 64);
      const fetched = await client.webhooks.get(created.id);
      assert.equal(fetched.attributes.secretKey, undefined);
      assert.equal(fetched.attributes.description, "upbus test");
      const listed = await collect(client.webhooks.list());
      assert.deepEqual(listed.map((item) => item.id), [created.id]);
      assert.equal(listed[0].attributes.secretKey, undefined);
    });

    await t.step("ping() returns the PING event and logs() shows the attempt", async () => {
      const [webhook] = await collect(client.webhooks.list());
      const event = await client.webhooks.ping(webhook.id);
      assert.equal(event.data.attributes.eventType, "PING");
      await sim.idle();
      const logs = await collect(client.webhooks.logs(webhook.id));
      assert.equal(logs.length, 1);
      assert.equal(logs[0].attributes.deliveryStatus, "UNDELIVERABLE");
      assert.equal(logs[0].relationships.webhookEvent.data.id, event.data.id);
    });

    await t.step("delete() removes it; deleting again is an UpNotFoundError", async () => {
      const [webhook] = await collect(client.webhooks.list());
      await client.webhooks.delete(webhook.id);
      assert.deepEqual(await collect(client.webhooks.list()), []);
      await assert.rejects(client.webhooks.delete(webhook.id), UpNotFoundError);
    });
  } finally {
    await sim.shutdown();
  }
});

Deno.test("createUpClient() reports a rejected token as UpAuthError without the token", async () => {
  const sim = serveUpSimulator({ port: 0, token: "up:sim:the-right-one" });
  try {
    const { client, notices } = fastClient(sim.baseUrl);
    const error = await client.ping().catch((error) => error);
    assert.ok(error instanceof UpAuthError);
    assert.equal(error.status, 401);
    assert.equal(
      error.message,
      "Cannot check the token: the token was rejected (HTTP 401), check UP_API_TOKEN",
    );
    assert.equal(notices.length, 0);
    assertNoToken(`${error.stack} ${JSON.stringify(error)} ${Deno.inspect(error)}`);
    assertNoToken(Deno.inspect(client, { depth: 10, showHidden: true }));
  } finally {
    await sim.shutdown();
  }
});

Deno.test("createUpClient() waits out 429s and retries 5xx with bounded, jittered backoff", async (t) => {
  const sim = serveUpSimulator({ port: 0, token: TOKEN });
  try {
    await t.step("429 then success: backoff, then the answer", async () => {
      const { client, waits, notices } = fastClient(sim.baseUrl);
      sim.injectFaults({ status: 429, rateLimitRemaining: 5 }, 2);
      await client.ping();
      assert.equal(waits.length, 2);
      assert.ok(notices.every((notice) => notice.error instanceof UpRateLimitError));
      assert.ok(waits[0] >= 250 && waits[0] <= 500, `first wait ${waits[0]}`);
      assert.ok(waits[1] >= 500 && waits[1] <= 1000, `second wait ${waits[1]}`);
    });

    await t.step("429 with X-RateLimit-Remaining 0 waits until the next clock hour", async () => {
      const tenFiftyNineThirty = Date.UTC(2024, 7, 6, 10, 59, 30);
      const { client, waits } = fastClient(sim.baseUrl, {
        now: () => tenFiftyNineThirty,
        random: () => 0.5,
      });
      sim.injectFaults({ status: 429, rateLimitRemaining: 0 });
      await client.ping();
      assert.deepEqual(waits, [30_000 + 500]);
    });

    await t.step("a rate limit lifting later than maxRateLimitWaitMs is thrown", async () => {
      const { client } = fastClient(sim.baseUrl, {
        now: () => Date.UTC(2024, 7, 6, 10, 0, 0),
        maxRateLimitWaitMs: 60_000,
      });
      sim.injectFaults({ status: 429, rateLimitRemaining: 0 });
      const error = await client.ping().catch((error) => error);
      assert.ok(error instanceof UpRateLimitError);
      assert.ok(error.retryAt instanceof Date);
    });

    await t.step("5xx twice then success", async () => {
      const { client, waits, notices } = fastClient(sim.baseUrl);
      sim.injectFaults({ status: 503 }, 2);
      await client.ping();
      assert.equal(waits.length, 2);
      assert.ok(notices.every((notice) => notice.error instanceof UpServerError));
    });

    await t.step("5xx without end gives up after maxRetries", async () => {
      const { client, waits } = fastClient(sim.baseUrl, { maxRetries: 3 });
      sim.injectFaults({ status: 500 }, 4);
      const error = await client.ping().catch((error) => error);
      assert.ok(error instanceof UpServerError);
      assert.equal(error.status, 500);
      assert.equal(waits.length, 3);
      assert.ok(waits.every((wait) => wait <= 30_000));
      await client.ping();
    });

    await t.step(
      "creating a webhook is not repeated after a 5xx (it may have succeeded)",
      async () => {
        const { client, waits } = fastClient(sim.baseUrl);
        sim.injectFaults({ status: 502 });
        await assert.rejects(
          client.webhooks.create({ url: "http://127.0.0.1:9/x" }),
          UpServerError,
        );
        assert.equal(waits.length, 0);
      },
    );
  } finally {
    await sim.shutdown();
  }
});

Deno.test("createUpClient() fails at once when nothing listens; retries it only with retryUnreachable", async (t) => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const baseUrl = `http://127.0.0.1:${port}/api/v1`;
  await t.step("a one-shot client: no retry, UpNetworkError naming the host", async () => {
    const { client, waits } = fastClient(baseUrl, { maxRetries: 2 });
    const error = await client.ping().catch((error) => error);
    assert.ok(error instanceof UpNetworkError);
    assert.equal(error.timedOut, false);
    assert.match(
      error.message,
      new RegExp(`^Cannot check the token: 127.0.0.1:${port} is unreachable`),
    );
    assert.deepEqual(waits, [], "a refused connection is not retried");
    assertNoToken(`${error.message} ${error.stack} ${Deno.inspect(error)}`);
  });
  await t.step("a long-running client (retryUnreachable) waits for it to come back", async () => {
    const { client, waits, notices } = fastClient(baseUrl, {
      maxRetries: 2,
      retryUnreachable: true,
    });
    const error = await client.ping().catch((error) => error);
    assert.ok(error instanceof UpNetworkError);
    assert.equal(waits.length, 2);
    for (const notice of notices) assertNoToken(`${notice.error.message} ${notice.error.stack}`);
  });
  await t.step("a timeout is retried either way", async () => {
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) held.push(conn);
    })();
    try {
      const { client, waits } = fastClient(
        `http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}/api/v1`,
        { maxRetries: 1, timeoutMs: 100 },
      );
      const error = await client.ping().catch((error) => error);
      assert.ok(error instanceof UpNetworkError);
      assert.equal(error.timedOut, true);
      assert.match(error.message, /no answer within 100 ms/);
      assert.equal(waits.length, 1);
    } finally {
      silent.close();
      await accepting.catch(() => {});
      for (const conn of held) conn.close();
    }
  });
});

Deno.test("createUpClient() refuses to follow a links.next to another origin", async () => {
  const seen: string[] = [];
  const client = createUpClient({
    token: TOKEN,
    baseUrl: "http://127.0.0.1:1/api/v1",
    fetch: (input) => {
      seen.push(String(input));
      return Promise.resolve(Response.json({
        data: [],
        links: { prev: null, next: "https://evil.example/api/v1/webhooks?page%5Bafter%5D=x" },
      }));
    },
  });
  const error = await collect(client.webhooks.list()).catch((error) => error);
  assert.ok(error instanceof UpApiError);
  assert.match(error.message, /is not the API's origin/);
  assert.equal(seen.length, 1);
});

Deno.test("upClientFromEnv() reads UP_API_TOKEN and UP_API_BASE", async (t) => {
  await t.step("a missing token names the variable", () => {
    assert.throws(() => upClientFromEnv({ env: () => undefined }), /UP_API_TOKEN is not set/);
  });
  await t.step("UP_API_BASE replaces the default base", () => {
    const env: Record<string, string> = {
      UP_API_TOKEN: TOKEN,
      UP_API_BASE: "http://127.0.0.1:8787/api/v1/",
    };
    assert.equal(
      upClientFromEnv({ env: (name) => env[name] }).baseUrl,
      "http://127.0.0.1:8787/api/v1",
    );
  });
  await t.step("a base URL that is not HTTP(S) is refused", () => {
    const env: Record<string, string> = { UP_API_TOKEN: TOKEN, UP_API_BASE: "ftp://x" };
    assert.throws(() => upClientFromEnv({ env: (name) => env[name] }), TypeError);
  });
});

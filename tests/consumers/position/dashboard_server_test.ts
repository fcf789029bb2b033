/**
 * The dashboard's server side, without a browser: a password is required off loopback and then
 * checked on every request; the figures carry Up's account and category names; and when Up
 * rejects the token or cannot be reached the page says so in words.
 */
import assert from "node:assert/strict";
import { createConsumeCommand } from "../../../lib/cli/consume.ts";
import { serveDashboard } from "../../../lib/consumers/position/dashboard.ts";
import {
  buildSnapshot,
  problemMessage,
} from "../../../lib/consumers/position/dashboard_snapshot.ts";
import { Position } from "../../../lib/consumers/position/position.ts";
import { createPositionConsumer } from "../../../lib/consumers/position/position_consumer.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import { createUpClient } from "../../../lib/up/client.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";
import { serveUpSimulator } from "../../../lib/up_sim/server.ts";

const quiet = createLogger({ write: () => {} });
const empty = () => buildSnapshot(new Position(), { updatedAt: 0, reconciledAt: null });

Deno.test("the dashboard refuses to listen off loopback without DASHBOARD_PASSWORD", () => {
  for (const hostname of ["0.0.0.0", "::", "192.168.1.20"]) {
    assert.throws(
      () => serveDashboard({ snapshot: empty, port: 0, hostname }),
      (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.equal(
          error.message,
          `Cannot serve the dashboard on ${hostname}: it shows your balances, so anywhere but loopback it needs a password; set DASHBOARD_PASSWORD, or DASHBOARD_HOST=127.0.0.1`,
        );
        return true;
      },
    );
  }
});

Deno.test("consume position stops at start, naming DASHBOARD_PASSWORD, on 0.0.0.0 without one", async () => {
  const dataDir = await Deno.makeTempDir();
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  try {
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      DASHBOARD_HOST: "0.0.0.0",
      DASHBOARD_PORT: "0",
      UP_API_BASE: sim.baseUrl,
      UP_API_TOKEN: sim.token,
      LOG_LEVEL: "error",
    };
    const consume = createConsumeCommand({
      env: (name) => env[name],
      out: () => {},
      err: () => {},
      stopped: () => Promise.resolve("SIGTERM"),
    });
    await assert.rejects(consume.run(["position"]), /set DASHBOARD_PASSWORD/);
  } finally {
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("with DASHBOARD_PASSWORD every request must carry it", async (t) => {
  const dashboard = serveDashboard({
    snapshot: empty,
    port: 0,
    hostname: "0.0.0.0",
    password: "correct horse",
  });
  const get = (path: string, authorization?: string) =>
    fetch(new URL(path, dashboard.url), {
      headers: authorization ? { authorization } : {},
    }).then(async (response) => ({
      status: response.status,
      challenge: response.headers.get("www-authenticate"),
      body: await response.text(),
    }));
  try {
    await t.step("no password: 401 that asks the browser for one", async () => {
      for (const path of ["/", "/position.json", "/events"]) {
        const answer = await get(path);
        assert.equal(answer.status, 401, path);
        assert.equal(answer.challenge, 'Basic realm="upbus dashboard", charset="UTF-8"');
        assert.ok(!answer.body.includes("balance"), "no figures without the password");
      }
    });
    await t.step("a wrong password: 401", async () => {
      assert.equal((await get("/", `Basic ${btoa("me:wrong horse")}`)).status, 401);
      assert.equal((await get("/", "Bearer correct horsE")).status, 401);
      assert.equal((await get("/", "Basic !!!not-base64")).status, 401);
    });
    await t.step("basic auth with any user name, or a bearer token: 200", async () => {
      const page = await get("/", `Basic ${btoa("anyone:correct horse")}`);
      assert.equal(page.status, 200);
      assert.match(page.body, /<title>upbus · your money<\/title>/);
      const json = await get("/position.json", "Bearer correct horse");
      assert.equal(json.status, 200);
      assert.deepEqual(JSON.parse(json.body).accounts, []);
    });
  } finally {
    await dashboard.close();
  }
});

Deno.test("the dashboard's figures carry Up's account and category names, not ids", async () => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 3 });
  const consumer = createPositionConsumer({
    up: createUpClient({ token: sim.token, baseUrl: sim.baseUrl }),
    reconcileMs: 0,
    logger: quiet,
  });
  try {
    sim.bank.transactions.forEach((transaction, offset) => {
      const resource = transactionResource(transaction, sim.baseUrl);
      consumer.handle({
        topic: "up.transactions",
        partition: 0,
        offset: String(offset),
        key: resource.id,
        value: new TextEncoder().encode(JSON.stringify(resource)),
        headers: {},
        timestamp: "0",
      });
    });
    await consumer.reconcile();
    const snapshot = consumer.snapshot();
    assert.deepEqual(snapshot.accounts.map((account) => account.label), ["Spending", "Savings"]);
    assert.equal(snapshot.problem, null);
    for (const transaction of snapshot.recent) {
      assert.equal(transaction.accountName, "Spending");
      assert.ok(transaction.categoryName !== null && !transaction.categoryName.includes("-"));
    }
    const names = new Set(snapshot.spendCategories.map((entry) => entry.name));
    assert.ok([...names].every((name) => /^[A-Z]/.test(name)), [...names].join());
    assert.equal(snapshot.accounts[0].history?.length, 30);
    assert.match(snapshot.accounts[0].chart, /^<svg/);
  } finally {
    await consumer.close?.();
    await sim.shutdown();
  }
});

Deno.test("when Up rejects the token or cannot be reached, the page says so in words", async (t) => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  const run = async (up: ReturnType<typeof createUpClient> | undefined) => {
    const consumer = createPositionConsumer({
      up,
      reconcileMs: 60_000,
      dashboard: { port: 0 },
      logger: quiet,
    });
    try {
      await consumer.reconcile().catch(() => {});
      const html = await (await fetch(consumer.dashboard!.url)).text();
      return { problem: consumer.snapshot().problem, html };
    } finally {
      await consumer.close?.();
    }
  };
  try {
    await t.step("a wrong token", async () => {
      const { problem, html } = await run(
        createUpClient({ token: "up:yeah:wrong", baseUrl: sim.baseUrl, maxRetries: 0 }),
      );
      assert.match(problem!, /^Up rejected the token \(HTTP 401\)/);
      assert.match(problem!, /Set UP_API_TOKEN to a valid personal access token/);
      assert.ok(html.includes("Up rejected the token"), "the page carries the message");
      assert.ok(!html.includes("up:yeah:wrong"), "never the token itself");
    });
    await t.step("Up unreachable", async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const closedPort = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const { problem } = await run(
        createUpClient({
          token: "up:yeah:t",
          baseUrl: `http://127.0.0.1:${closedPort}/api/v1`,
          maxRetries: 0,
        }),
      );
      assert.match(problem!, /^Up cannot be reached \(127\.0\.0\.1:\d+ is unreachable: /);
      assert.match(problem!, /may be out of date\. upbus asks again every 60 seconds\.$/);
    });
    await t.step("no token at all", async () => {
      const { problem } = await run(undefined);
      assert.match(problem!, /^UP_API_TOKEN is not set, so balances and account names are unknown/);
    });
    await t.step("once Up answers again, the message goes", () => {
      assert.equal(problemMessage(null, { retrySeconds: 0 }).includes("asks again"), false);
    });
  } finally {
    await sim.shutdown();
  }
});

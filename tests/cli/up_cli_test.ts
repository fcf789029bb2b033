/** Tests of the `simulate`, `webhooks` and `up-sim` commands against the Up simulator. */
import assert from "node:assert/strict";
import type { Command } from "../../lib/cli/command.ts";
import type { CliContext } from "../../lib/cli/context.ts";
import { createSimulateCommand } from "../../lib/cli/simulate.ts";
import { createUpSimCommand } from "../../lib/cli/up_sim.ts";
import { createWebhooksCommand } from "../../lib/cli/webhooks.ts";
import { createUpClient } from "../../lib/up/client.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import type { WebhookEventCallback } from "../../lib/up/types.ts";
import { readWebhookState, writeWebhookState } from "../../lib/up/webhook_state.ts";
import { startReceiver } from "../support/webhook_receiver.ts";

const TOKEN = "up:sim:cli-test";

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function run(
  factory: (overrides: Partial<CliContext>) => Command,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const command = factory({
    env: (name) => env[name],
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20))),
  });
  return { code: await command.run(args), out, err };
}

/** A simulator, a receiver that knows the registered secret, and a state file naming it. */
async function setup() {
  const dataDir = await Deno.makeTempDir();
  let secret = "";
  const receiver = startReceiver({ secrets: () => (secret ? [secret] : []) });
  const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [] });
  const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
  const webhook = await up.webhooks.create({ url: receiver.url, description: "cli test" });
  secret = webhook.attributes.secretKey!;
  await writeWebhookState(dataDir, {
    version: 1,
    webhooks: [{
      id: webhook.id,
      url: receiver.url,
      description: "cli test",
      secretKey: secret,
      createdAt: webhook.attributes.createdAt,
    }],
  });
  const env = { UP_API_BASE: sim.baseUrl, UP_API_TOKEN: TOKEN, DATA_DIR: dataDir };
  return {
    dataDir,
    receiver,
    sim,
    up,
    webhook,
    secret,
    env,
    async close() {
      await sim.shutdown();
      await receiver.shutdown();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

Deno.test("simulate makes events happen through the simulator and reports their delivery", async (t) => {
  const s = await setup();
  try {
    await t.step(
      "transaction-created creates a HELD transaction and delivers it verified",
      async () => {
        const result = await run(
          createSimulateCommand,
          [
            "transaction-created",
            "--amount",
            "-4.20",
            "--description",
            "Bakery",
            "--category",
            "takeaway",
          ],
          s.env,
        );
        assert.equal(result.code, 0, result.err.join("\n"));
        assert.match(result.out[0], /^Created HELD transaction \S+: -4\.20 AUD, Bakery$/);
        assert.match(result.out[1], /^TRANSACTION_CREATED \S+ delivered to .* \(HTTP 200\)$/);
        const [arrival] = s.receiver.received;
        assert.ok(arrival.verified);
        const event: WebhookEventCallback = JSON.parse(arrival.body);
        const transaction = await s.up.getTransaction(
          event.data.relationships.transaction!.data.id,
        );
        assert.equal(transaction.attributes.amount.valueInBaseUnits, -420);
        assert.equal(transaction.relationships.category.data?.id, "takeaway");
      },
    );

    await t.step("transaction-settled settles the newest HELD transaction", async () => {
      const result = await run(createSimulateCommand, ["transaction-settled"], s.env);
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.equal(
        JSON.parse(s.receiver.received[1].body).data.attributes.eventType,
        "TRANSACTION_SETTLED",
      );
    });

    await t.step(
      "transaction-deleted with no HELD transaction left fails with a message",
      async () => {
        for (const event of ["transaction-deleted", "transaction-settled"]) {
          const result = await run(createSimulateCommand, [event], s.env);
          assert.equal(result.code, 1);
          const verb = event === "transaction-deleted" ? "delete" : "settle";
          assert.equal(
            result.err[0],
            `upbus simulate: Cannot ${verb}: the simulator holds no HELD transaction, create one first with \`deno task simulate transaction-created\``,
          );
        }
      },
    );

    await t.step("a positive amount is income: Salary with no category", async () => {
      const result = await run(
        createSimulateCommand,
        ["transaction-created", "--amount", "2500", "--description", "Salary"],
        s.env,
      );
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.match(
        result.out[0],
        /^Created SETTLED transaction (\S+): 2500\.00 AUD, Salary \(income, no category\)$/,
      );
      const id = result.out[0].split(" ")[3].replace(/:$/, "");
      const transaction = await s.up.getTransaction(id);
      assert.equal(transaction.relationships.category.data, null);
      assert.equal(transaction.attributes.status, "SETTLED", "income is never held");
    });

    await t.step(
      "a purchase without --category gets the one its description fits, as Up picks it",
      async () => {
        const categories = new Map(
          (await s.up.listCategories()).map((category) => [category.id, category]),
        );
        for (
          const [description, expected] of [
            ["Opal Travel", "public-transport"],
            ["Harris Farm Markets", "groceries"],
            ["Campos Coffee", "restaurants-and-cafes"],
            ["Ampol Newtown", "fuel"],
            ["Menulog", "takeaway"],
            ["Zzyzx Holdings", null],
          ] as const
        ) {
          const result = await run(createSimulateCommand, [
            "transaction-created",
            "--amount",
            "-3.30",
            "--description",
            description,
          ], s.env);
          assert.equal(result.code, 0, result.err.join("\n"));
          const id = result.out[0].match(/^Created HELD transaction (\S+):/)![1];
          const category = (await s.up.getTransaction(id)).relationships.category.data?.id ?? null;
          assert.equal(category, expected, description);
          if (category !== null) {
            assert.ok(categories.has(category), `${category} is one GET /categories lists`);
            assert.ok(categories.get(category)!.relationships.parent.data, "a child category");
          }
        }
      },
    );

    await t.step("income with --category is a usage error", async () => {
      await assert.rejects(
        run(
          createSimulateCommand,
          ["transaction-created", "--amount", "20", "--category", "fuel"],
          s.env,
        ),
        /income, which Up does not categorise: leave out --category/,
      );
    });

    await t.step(
      "flow sends TRANSACTION_CREATED then TRANSACTION_SETTLED for one purchase",
      async () => {
        const before = s.receiver.received.length;
        const result = await run(
          createSimulateCommand,
          ["flow", "--amount", "-8.80", "--description", "Bread", "--category", "groceries"],
          s.env,
        );
        assert.equal(result.code, 0, result.err.join("\n"));
        assert.match(result.out[1], /^TRANSACTION_CREATED \S+ delivered to /);
        assert.match(result.out[2], /^Settled transaction /);
        assert.match(result.out[3], /^TRANSACTION_SETTLED \S+ delivered to /);
        const events = s.receiver.received.slice(before).map((arrival) => JSON.parse(arrival.body));
        assert.deepEqual(
          events.map((event) => event.data.attributes.eventType),
          ["TRANSACTION_CREATED", "TRANSACTION_SETTLED"],
        );
        const ids = events.map((event) => event.data.relationships.transaction.data.id);
        assert.equal(ids[0], ids[1], "one purchase");
        assert.equal((await s.up.getTransaction(ids[0])).attributes.status, "SETTLED");
      },
    );

    await t.step("transfer moves money between accounts named in words", async () => {
      const before = s.receiver.received.length;
      const result = await run(
        createSimulateCommand,
        ["transfer", "--amount", "50", "--from", "Spending", "--to-account", "Savings"],
        s.env,
      );
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.match(
        result.out[0],
        /^Created SETTLED transaction \S+: -50\.00 AUD, Transfer to Savings$/,
      );
      assert.match(
        result.out[1],
        /^Created SETTLED transaction \S+: 50\.00 AUD, Transfer from Spending$/,
      );
      assert.equal(s.receiver.received.length - before, 2);
    });

    await t.step("ping pings every webhook", async () => {
      const result = await run(createSimulateCommand, ["ping"], s.env);
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.equal(result.out[0], "Pinged 1 webhook(s)");
    });

    await t.step("an unknown event is a usage error", async () => {
      await assert.rejects(
        run(createSimulateCommand, ["transaction-exploded"], s.env),
        /unknown event/,
      );
    });
  } finally {
    await s.close();
  }
});

Deno.test("simulate sends a signed event straight to a URL without a simulator", async (t) => {
  const s = await setup();
  const direct = { DATA_DIR: s.dataDir };
  try {
    await t.step("with --direct, the stored webhook's URL and secret are used", async () => {
      const result = await run(createSimulateCommand, ["transaction-created", "--direct"], direct);
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.ok(s.receiver.received.at(-1)?.verified);
      assert.match(result.out[0], /^TRANSACTION_CREATED \S+ delivered to .* \(HTTP 200\)/);
    });

    await t.step("--to with UP_WEBHOOK_SECRETS signs with the first secret", async () => {
      const result = await run(
        createSimulateCommand,
        ["transaction-deleted", "--to", s.receiver.url],
        { ...direct, UP_WEBHOOK_SECRETS: `${s.secret},other` },
      );
      assert.equal(result.code, 0, result.err.join("\n"));
      const event: WebhookEventCallback = JSON.parse(s.receiver.received.at(-1)!.body);
      assert.equal(event.data.attributes.eventType, "TRANSACTION_DELETED");
      assert.equal(event.data.relationships.transaction?.links, undefined);
    });

    await t.step("a wrong secret is reported with the receiver's answer, exit 1", async () => {
      const result = await run(
        createSimulateCommand,
        ["ping", "--to", s.receiver.url],
        { ...direct, UP_WEBHOOK_SECRETS: "wrong" },
      );
      assert.equal(result.code, 1);
      assert.match(result.out[0], /NOT delivered to .*: HTTP 401/);
    });

    await t.step(
      "--secret-from-state prefers the stored secret over UP_WEBHOOK_SECRETS",
      async () => {
        const result = await run(
          createSimulateCommand,
          ["ping", "--to", s.receiver.url, "--secret-from-state"],
          { ...direct, UP_WEBHOOK_SECRETS: "wrong" },
        );
        assert.equal(result.code, 0, result.out.join("\n"));
      },
    );

    await t.step("no secret anywhere is an error that says what to do", async () => {
      const empty = await Deno.makeTempDir();
      try {
        const result = await run(
          createSimulateCommand,
          ["ping", "--to", s.receiver.url],
          { DATA_DIR: empty },
        );
        assert.equal(result.code, 1);
        assert.match(
          result.err[0],
          /run `deno task register-webhook` first or set UP_WEBHOOK_SECRETS/,
        );
      } finally {
        await Deno.remove(empty, { recursive: true });
      }
    });
  } finally {
    await s.close();
  }
});

Deno.test("simulate without a simulator refuses, says why and the two lines to export", async () => {
  const s = await setup();
  try {
    for (
      const [env, reason] of [
        [{ DATA_DIR: s.dataDir }, "UP_API_BASE is not set"],
        [{ DATA_DIR: s.dataDir, UP_API_BASE: s.sim.baseUrl }, "UP_API_TOKEN is not set"],
      ] as const
    ) {
      const result = await run(createSimulateCommand, ["transaction-created"], env);
      assert.equal(result.code, 1);
      assert.ok(result.err[0].startsWith(`upbus simulate: Cannot simulate an event: ${reason}`));
      assert.ok(result.err.includes("  export UP_API_BASE=http://127.0.0.1:8787/api/v1"));
      assert.ok(result.err.includes("  export UP_API_TOKEN=up:sim:local-development-token"));
      assert.match(result.err.at(-1)!, /--direct .* or --to URL/);
      assert.equal(s.receiver.received.length, 0, "nothing was posted to the service");
    }
  } finally {
    await s.close();
  }
});

Deno.test("simulate with a wrong token says the simulator rejected it, not that it is unreachable", async () => {
  const s = await setup();
  try {
    const result = await run(createSimulateCommand, ["transaction-created"], {
      ...s.env,
      UP_API_TOKEN: "up:sim:wrong",
    });
    assert.equal(result.code, 1);
    assert.equal(
      result.err[0],
      "upbus simulate: Cannot use the simulator: the token was rejected (HTTP 401), check UP_API_TOKEN",
    );
  } finally {
    await s.close();
  }
});

Deno.test("simulate with a dead webhook beside the live one: exit 0 at once, and how to remove it", async () => {
  const s = await setup();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadUrl = `http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}/webhook`;
  closed.close();
  // The simulator retries as Up does (1 s, then 5 s, ...): the command must not wait for them.
  const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [1000, 5000, 30000] });
  try {
    const up = createUpClient({ token: TOKEN, baseUrl: sim.baseUrl });
    let secret = "";
    const receiver = startReceiver({ secrets: () => (secret ? [secret] : []) });
    const dead = await up.webhooks.create({ url: deadUrl, description: "dead" });
    secret = (await up.webhooks.create({ url: receiver.url, description: "live" })).attributes
      .secretKey!;
    const env = { UP_API_BASE: sim.baseUrl, UP_API_TOKEN: TOKEN, DATA_DIR: s.dataDir };
    try {
      const out: string[] = [];
      const err: string[] = [];
      const started = performance.now();
      const code = await createSimulateCommand({
        env: (name) => (env as Record<string, string>)[name],
        out: (line) => out.push(line),
        err: (line) => err.push(line),
      }).run(["transaction-created"]);
      const elapsed = performance.now() - started;
      assert.equal(code, 0, [...out, ...err].join("\n"));
      assert.ok(elapsed < 3000, `took ${Math.round(elapsed)} ms`);
      assert.ok(
        out.some((line) => line.includes(`delivered to ${receiver.url} (HTTP 200)`)),
        out.join("\n"),
      );
      assert.ok(
        out.some((line) => line.includes(`NOT delivered to ${deadUrl}: UNDELIVERABLE`)),
        out.join("\n"),
      );
      assert.ok(
        out.some((line) => line.endsWith(`remove it: deno task webhooks delete ${dead.id}`)),
        out.join("\n"),
      );
      assert.equal(receiver.received.length, 1);
      assert.ok(receiver.received[0].verified);
    } finally {
      await receiver.shutdown();
    }
  } finally {
    await sim.shutdown();
    await s.close();
  }
});

Deno.test("a one-shot command fails within about a second when nothing listens", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}/api/v1`;
  closed.close();
  const err: string[] = [];
  const started = performance.now();
  const code = await createWebhooksCommand({
    env: (name) => ({ UP_API_BASE: base, UP_API_TOKEN: TOKEN })[name],
    out: () => {},
    err: (line) => err.push(line),
  }).run(["list"]);
  const elapsed = performance.now() - started;
  assert.equal(code, 1);
  assert.ok(elapsed < 1500, `took ${Math.round(elapsed)} ms`);
  assert.deepEqual(err.filter((line) => line.includes("retrying")), [], "no retry");
  assert.match(
    err.at(-1)!,
    /^upbus webhooks: Cannot list webhooks: 127\.0\.0\.1:\d+ is unreachable/,
  );
});

Deno.test("webhooks list, ping, logs and delete show Up's webhooks", async (t) => {
  const s = await setup();
  try {
    await t.step("ping waits for the delivery", async () => {
      const result = await run(createWebhooksCommand, ["ping", s.webhook.id], s.env);
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.match(result.out[0], /^PING \S+ delivered \(HTTP 200\)$/);
    });

    await t.step("list shows the URL and the last delivery status in 100 columns", async () => {
      const result = await run(createWebhooksCommand, ["list"], s.env);
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.match(result.out[0], /^ID\s+URL\s+LAST DELIVERY\s+SECRET$/);
      assert.ok(result.out[1].startsWith(s.webhook.id.slice(0, 8) + " "), result.out[1]);
      assert.ok(result.out[1].includes(s.receiver.url));
      assert.match(result.out[1], /DELIVERED 200 PING \d\d-\d\d \d\d:\d\d\s+stored$/);
      for (const line of result.out) assert.ok(line.length <= 100, `${line.length}: ${line}`);
    });

    await t.step(
      "ping and logs need no id when there is one webhook, or its first characters",
      async () => {
        const ping = await run(createWebhooksCommand, ["ping", "--timeout", "0"], s.env);
        assert.equal(ping.code, 0, ping.err.join("\n"));
        assert.match(ping.out[0], /^PING \S+ sent$/);
        // --timeout 0 does not wait for the delivery: read the logs once it is there.
        const pinged = ping.out[0].split(" ")[1];
        let logs = await run(createWebhooksCommand, ["logs"], s.env);
        for (let i = 0; i < 100 && !logs.out[1]?.includes(pinged); i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          logs = await run(createWebhooksCommand, ["logs"], s.env);
        }
        assert.equal(logs.code, 0, logs.err.join("\n"));
        assert.match(logs.out[1], /PING\s+DELIVERED 200/);
        const short = await run(createWebhooksCommand, ["logs", s.webhook.id.slice(0, 8)], s.env);
        assert.equal(short.code, 0, short.err.join("\n"));
        assert.deepEqual(short.out.slice(0, 2), logs.out.slice(0, 2));
      },
    );

    await t.step("list --json is machine-readable", async () => {
      const result = await run(createWebhooksCommand, ["list", "--json"], s.env);
      const [entry] = JSON.parse(result.out.join("\n"));
      assert.equal(entry.id, s.webhook.id);
      assert.equal(entry.lastDelivery.deliveryStatus, "DELIVERED");
      assert.equal(entry.lastDelivery.statusCode, 200);
      assert.equal(entry.secretStored, true);
      assert.ok(!result.out.join("\n").includes(s.secret));
    });

    await t.step("logs shows each attempt, newest first", async () => {
      const result = await run(createWebhooksCommand, ["logs", s.webhook.id], s.env);
      assert.match(result.out[0], /^CREATED\s+EVENT\s+STATUS\s+EVENT ID\s+RESPONSE$/);
      assert.match(result.out[1], /PING\s+DELIVERED 200/);
      const json = await run(createWebhooksCommand, ["logs", s.webhook.id, "--json"], s.env);
      assert.equal(JSON.parse(json.out.join("\n"))[0].type, "webhook-delivery-logs");
    });

    await t.step("delete removes it from Up and forgets its secret", async () => {
      const result = await run(createWebhooksCommand, ["delete", s.webhook.id], s.env);
      assert.equal(result.code, 0, result.err.join("\n"));
      // Its logs go with it: the events this data directory lacks are read into its store first.
      assert.match(
        result.out[0],
        new RegExp(
          `^✓ Read the delivery logs of webhook ${s.webhook.id} before deleting it: 2 entries, 2 events upbus lacked`,
        ),
      );
      assert.equal(result.out[1], `Deleted webhook ${s.webhook.id} and forgot its secret`);
      assert.deepEqual((await readWebhookState(s.dataDir)).webhooks, []);
      const list = await run(createWebhooksCommand, ["list"], s.env);
      assert.equal(list.out[0], "No webhooks. Register one with: deno task register-webhook");
    });

    await t.step("ping with no webhook at all says to register one", async () => {
      const result = await run(createWebhooksCommand, ["ping"], s.env);
      assert.equal(result.code, 1);
      assert.match(result.err[0], /no webhook is registered, run `deno task register-webhook`/);
    });

    await t.step("logs with several webhooks and no id asks which", async () => {
      const up = createUpClient({ token: s.env.UP_API_TOKEN!, baseUrl: s.env.UP_API_BASE! });
      const first = await up.webhooks.create({ url: "http://127.0.0.1:1/a", description: "a" });
      const second = await up.webhooks.create({ url: "http://127.0.0.1:1/b", description: "b" });
      await assert.rejects(
        run(createWebhooksCommand, ["logs"], s.env),
        new RegExp(
          `2 webhooks are registered, say which: ${first.id.slice(0, 8)}, ${second.id.slice(0, 8)}`,
        ),
      );
      await up.webhooks.delete(first.id);
      await up.webhooks.delete(second.id);
    });

    await t.step("a missing webhook: exit 1 and the API's message", async () => {
      const result = await run(createWebhooksCommand, ["logs", "nope"], s.env);
      assert.equal(result.code, 1);
      assert.match(
        result.err[0],
        /^upbus webhooks: Cannot list delivery logs of webhook nope: not found/,
      );
    });

    await t.step("a wrong token: exit 1 and says the token was rejected", async () => {
      const result = await run(createWebhooksCommand, ["list"], { ...s.env, UP_API_TOKEN: "bad" });
      assert.equal(result.code, 1);
      assert.equal(
        result.err[0],
        "upbus webhooks: Cannot list webhooks: the token was rejected (HTTP 401), check UP_API_TOKEN",
      );
    });

    await t.step("usage mistakes are UsageErrors", async () => {
      await assert.rejects(run(createWebhooksCommand, [], s.env), /which action/);
      await assert.rejects(run(createWebhooksCommand, ["delete"], s.env), /takes one webhook id/);
    });
  } finally {
    await s.close();
  }
});

Deno.test("up-sim serves the simulator until told to stop and prints how to use it", async () => {
  const out: string[] = [];
  const stop = Promise.withResolvers<string>();
  const command = createUpSimCommand({
    out: (line) => out.push(line),
    stopped: () => stop.promise,
  });
  const running = command.run([
    "--port",
    "0",
    "--token",
    "up:sim:t",
    "--seed",
    "3",
    "--in-memory",
  ]);
  const base = out.find((line) => line.startsWith("  export UP_API_BASE="))!.split("=")[1];
  assert.ok(out.includes("  export UP_API_TOKEN=up:sim:t"));
  const up = createUpClient({ token: "up:sim:t", baseUrl: base });
  await up.ping();
  let count = 0;
  for await (const _ of up.listTransactions()) count++;
  assert.equal(count, 3);
  stop.resolve("SIGINT");
  assert.equal(await running, 0);
  assert.equal(out.at(-1), "Stopping the simulator (SIGINT)");
});

Deno.test("up-sim keeps its state in DATA_DIR/up-sim.json and continues from it", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const start = () => {
      const out: string[] = [];
      const stop = Promise.withResolvers<string>();
      const command = createUpSimCommand({
        env: (name) => (name === "DATA_DIR" ? dataDir : undefined),
        out: (line) => out.push(line),
        stopped: () => stop.promise,
      });
      const running = command.run(["--port", "0", "--token", "up:sim:t", "--seed", "2"]);
      const base = out.find((line) => line.startsWith("  export UP_API_BASE="))!.split("=")[1];
      return { out, base, stop: () => (stop.resolve("SIGTERM"), running) };
    };
    const first = await start();
    assert.ok(
      first.out.includes(
        `State: ${dataDir}/up-sim.json (accounts, transactions, webhooks; delete it to start afresh)`,
      ),
    );
    const up = createUpClient({ token: "up:sim:t", baseUrl: first.base });
    const webhook = await up.webhooks.create({ url: "http://127.0.0.1:1/webhook" });
    assert.equal(await first.stop(), 0);
    assert.equal((await Deno.stat(`${dataDir}/up-sim.json`)).mode! & 0o777, 0o600);

    const second = await start();
    const again = createUpClient({ token: "up:sim:t", baseUrl: second.base });
    assert.equal(
      (await again.webhooks.get(webhook.id)).attributes.url,
      "http://127.0.0.1:1/webhook",
    );
    let count = 0;
    for await (const _ of again.listTransactions()) count++;
    assert.equal(count, 2, "seeded once, not again");
    assert.equal(await second.stop(), 0);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

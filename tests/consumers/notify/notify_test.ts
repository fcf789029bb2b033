import assert from "node:assert/strict";
import { Partitioners } from "kafkajs";
import { loadRules } from "../../../lib/consumers/notify/load.ts";
import { parseRules, RulesError } from "../../../lib/consumers/notify/rules.ts";
import { createConsumeCommand } from "../../../lib/cli/consume.ts";
import { createNotifyConsumer } from "../../../lib/consumers/notify/notify.ts";
import { Outbox } from "../../../lib/consumers/notify/outbox.ts";
import { startConsumer } from "../../../lib/bus/runner.ts";
import { kafkaRecordSource } from "../../../lib/bus/kafka/record_source.ts";
import { ensureTransactionsTopic, transactionRecord } from "../../../lib/bus/transaction_record.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import { openLocalLog } from "../../../lib/bus/local/local_log.ts";
import { localLogRecordSource } from "../../../lib/bus/local/local_log_source.ts";
import { SimulatedBank } from "../../../lib/up_sim/bank.ts";
import { transactionResource } from "../../../lib/up_sim/resources.ts";
import type { TransactionResource } from "../../../lib/up/types.ts";
import { testBrokers } from "../../support/kafka.ts";
import { serveLocalTargets } from "../../support/notify_targets.ts";
import { quietKafka, waitFor } from "../../support/pipeline.ts";
import { serviceDataDir } from "../../support/service_process.ts";
import { startUpbus } from "../../support/upbus_program.ts";

const TOPIC = "up.transactions";
const BASE = "http://up.test/api/v1";
const WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TELEGRAM_TOKEN = "123456:AAE-telegram-secret-token";
const DISCORD = { id: "1100", token: "discord-secret-token-xyz" };
const NTFY_TOKEN = "tk_ntfysecrettoken0001";

function rulesYaml(url: string, extra = "") {
  return `# rules for the tests
targets:
  phone:
    type: ntfy
    url: ${url}/ntfy
    topic: upbus-test
    token_env: NOTIFY_NTFY_TOKEN
    initial_delay_ms: 50
  home:
    type: webhook
    url: ${url}/hook
    secret_env: NOTIFY_HOME_SECRET
    initial_delay_ms: 50
  telegram:
    type: telegram
    url: ${url}/telegram
    chat_id: "4242"
    token_file: TOKEN_FILE
    initial_delay_ms: 50
    rate_per_minute: 600
  discord:
    type: discord
    url_env: NOTIFY_DISCORD_URL
    initial_delay_ms: 50
${extra}
rules:
  - name: bar over $50
    match:
      direction: out
      amount: { over: 50 }
      category: pubs-and-bars
    notify:
      - target: phone
        title: "Bar: {{amount}}"
        message: "{{description}} {{amount}} from {{account}}"
        tags: [beer]
        priority: high
        click: "https://up.example/t/{{id}}"
  - name: every purchase, to home
    match: { direction: out }
    notify:
      - target: home
        message: "{{signed_amount}} {{description}}"
  - name: settled, to telegram and discord
    on: settled
    match: { direction: out, amount: { min: 10 } }
    notify:
      - target: telegram
        message: "Settled: {{description}} {{amount}}"
      - target: discord
        title: "{{description}}"
        message: "Settled {{amount}}"
`;
}

const logged: string[] = [];
const logger = createLogger({ level: "debug", write: (line) => void logged.push(line) });

async function setup(options: { extra?: string } = {}) {
  const dir = await Deno.makeTempDir();
  const targets = serveLocalTargets({
    webhookSecret: WEBHOOK_SECRET,
    telegramToken: TELEGRAM_TOKEN,
    discord: DISCORD,
  });
  await Deno.writeTextFile(`${dir}/telegram.token`, `${TELEGRAM_TOKEN}\n`);
  const rulesPath = `${dir}/notify.yaml`;
  await Deno.writeTextFile(
    rulesPath,
    rulesYaml(targets.url, options.extra).replace("TOKEN_FILE", `${dir}/telegram.token`),
  );
  const env: Record<string, string> = {
    NOTIFY_NTFY_TOKEN: NTFY_TOKEN,
    NOTIFY_HOME_SECRET: WEBHOOK_SECRET,
    NOTIFY_DISCORD_URL: `${targets.url}/discord/api/webhooks/${DISCORD.id}/${DISCORD.token}`,
  };
  const loaded = await loadRules(rulesPath, { env: (name) => env[name] });
  const bank = new SimulatedBank({ seedTransactions: 0 });
  return {
    dir,
    rulesPath,
    env,
    targets,
    loaded,
    bank,
    resource: (transaction: Parameters<typeof transactionResource>[0]) =>
      transactionResource(transaction, BASE),
    consumer: () =>
      createNotifyConsumer({
        ...loaded,
        statePath: `${dir}/notify/state.db`,
        accountNames: { [bank.accounts[0].id]: "Spending" },
        logger,
      }),
    async [Symbol.asyncDispose]() {
      await targets.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("parseRules() stops at the first mistake with the file, the line and the reason", () => {
  const cases: Array<[string, number, RegExp]> = [
    [
      "targets: {}\nrules:\n  - name: x\n    match: { amount: { over: -5 } }\n    notify: []\n",
      4,
      /amount\.over.*number of dollars/,
    ],
    [
      "targets:\n  p: { type: ntfy, topic: t }\nrules:\n  - name: x\n    notify:\n      - target: q\n        message: hi\n",
      6,
      /no target named "q"/,
    ],
    [
      'targets:\n  p: { type: ntfy, topic: t }\nrules:\n  - name: x\n    notify:\n      - target: p\n        message: "{{amout}}"\n',
      7,
      /unknown field "\{\{amout\}\}"/,
    ],
    [
      "targets:\n  p: { type: pager }\nrules: []\n",
      2,
      /expected one of ntfy, webhook, telegram, discord/,
    ],
    [
      'targets:\n  h: { type: webhook, url: "http://x" }\nrules: []\n',
      2,
      /needs secret_env or secret_file/,
    ],
    ["targets:\n  h: { type: ntfy, topic: t, token_env: HOME }\nrules: []\n", 2, /NOTIFY_<NAME>/],
    [
      'targets: {}\nrules:\n  - name: x\n    match: { description: "(" }\n    notify: [{ target: p, message: m }]\n',
      4,
      /regular expression/,
    ],
    ["targets: {}\nrules:\n  - name: x\n    match: { colour: red }\n", 4, /unknown key "colour"/],
    [
      "targets: {}\nrules:\n  - name: a\n    on: cleared\n",
      4,
      /expected one of created, settled, deleted/,
    ],
    ["targets: {}\nrules: [\n", 3, /Cannot read rules/],
  ];
  for (const [text, line, reason] of cases) {
    assert.throws(() => parseRules(text, { path: "notify.yaml" }), (error: unknown) => {
      assert.ok(error instanceof RulesError, String(error));
      assert.match(error.message, new RegExp(`^Cannot read rules: notify\\.yaml:${line}\\b`));
      assert.match(error.message, reason);
      assert.equal(error.line, line);
      return true;
    });
  }
});

Deno.test("consume notify refuses an invalid rules file at start, before reading any record", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/notify.yaml`,
      "targets:\n  p: { type: ntfy, topic: t }\nrules:\n  - name: x\n    match: { direction: sideways }\n    notify: [{ target: p, message: m }]\n",
    );
    const env: Record<string, string> = { DATA_DIR: `${dir}/data` };
    const command = createConsumeCommand({
      env: (name) => env[name],
      stopped: () => new Promise(() => {}),
    });
    await assert.rejects(
      command.run(["notify", "--rules", `${dir}/notify.yaml`]),
      /notify\.yaml:5 \(rules\.0\.match\.direction\): expected one of out, in, got "sideways"/,
    );
    await assert.rejects(Deno.stat(`${dir}/data/pipeline.db`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notify sends each matching transaction once to ntfy, a signed webhook, Telegram and Discord", async (t) => {
  await using env = await setup();
  const { bank, resource, targets } = env;
  const log = await openLocalLog(`${env.dir}/data`);
  const bar = bank.addTransaction({
    amountCents: -5230,
    description: "The Union Hotel",
    categoryId: "pubs-and-bars",
  });
  const cheapBar = bank.addTransaction({
    amountCents: -2000,
    description: "The Union Hotel",
    categoryId: "pubs-and-bars",
  });
  const salary = bank.addTransaction({ amountCents: 250_000, description: "Salary" });
  log.append(TOPIC, [transactionRecord(resource(salary), "test")]);
  const consumer = env.consumer();
  let running = await startConsumer(consumer, {
    source: localLogRecordSource(log, { pollMs: 20 }),
  });
  // A new group starts at the end: what was there before is not notified.
  log.append(TOPIC, [bar, cheapBar].map((tx) => transactionRecord(resource(tx), "test")));
  try {
    await waitFor(() => targets.received.length === 3, "three notifications");

    await t.step(
      "the bar purchase over $50 reaches ntfy with title, tags, priority and click",
      () => {
        const ntfy = targets.received.filter((r) => r.kind === "ntfy");
        assert.equal(ntfy.length, 1, "the $20 bar is under the rule's $50");
        assert.deepEqual(ntfy[0].body, {
          topic: "upbus-test",
          title: "Bar: $52.30",
          message: "The Union Hotel $52.30 from Spending",
          tags: ["beer"],
          priority: 4,
          click: `https://up.example/t/${bar.id}`,
        });
        assert.equal(ntfy[0].headers.authorization, `Bearer ${NTFY_TOKEN}`);
      },
    );

    await t.step(
      "each purchase reaches the webhook, verified by the Standard Webhooks library",
      () => {
        const hooks = targets.received.filter((r) => r.kind === "webhook");
        assert.equal(hooks.length, 2, "two purchases, not the salary");
        assert.match(hooks[0].headers["webhook-id"], /^msg_[0-9a-f]{32}$/);
        assert.match(hooks[0].headers["webhook-signature"], /^v1,[A-Za-z0-9+/]+=*$/);
        const data = hooks[0].body.data as { message: string; transaction: TransactionResource };
        assert.equal(hooks[0].body.type, "transaction.created");
        assert.equal(data.message, "-$52.30 The Union Hotel");
        assert.equal(data.transaction.id, bar.id);
      },
    );

    await t.step("a tampered body is refused by the verifier (the check can fail)", async () => {
      const hook = targets.received.find((r) => r.kind === "webhook")!;
      const response = await fetch(`${targets.url}/hook`, {
        method: "POST",
        headers: {
          "webhook-id": hook.headers["webhook-id"],
          "webhook-timestamp": hook.headers["webhook-timestamp"],
          "webhook-signature": hook.headers["webhook-signature"],
        },
        body: JSON.stringify({ ...hook.body, type: "transaction.tampered" }),
      });
      await response.body?.cancel();
      assert.equal(response.status, 401);
    });

    await t.step(
      "HELD then SETTLED does not notify twice; a rule on settled fires at settlement",
      async () => {
        bank.settle(bar);
        log.append(TOPIC, [transactionRecord(resource(bar), "test")]);
        await waitFor(() => targets.received.length === 5, "telegram and discord");
        const kinds = targets.received.map((r) => r.kind).sort();
        assert.deepEqual(kinds, ["discord", "ntfy", "telegram", "webhook", "webhook"]);
        const telegram = targets.received.find((r) => r.kind === "telegram")!;
        // No click template: the button opens the transaction's deepLinkURL, as Up gives it.
        assert.deepEqual(telegram.body, {
          chat_id: "4242",
          text: "Settled: The Union Hotel $52.30",
          reply_markup: {
            inline_keyboard: [[{ text: "Open in Up", url: `up://transaction/${bar.id}` }]],
          },
        });
        const discord = targets.received.find((r) => r.kind === "discord")!;
        assert.equal(discord.body.content, "Settled $52.30");
        assert.deepEqual(discord.body.embeds, [
          { title: "The Union Hotel", url: `up://transaction/${bar.id}` },
        ]);
      },
    );

    await t.step("a restart, reading every record again, repeats nothing", async () => {
      await waitFor(() => consumer.outbox.counts().pending === 0, "everything delivered");
      await running.stop();
      log.resetPosition("upbus-notify", TOPIC, 0); // As if the offsets were lost.
      const before = targets.received.length;
      running = await startConsumer(env.consumer(), {
        source: localLogRecordSource(log, { pollMs: 20 }),
      });
      await waitFor(() => running.handled === 4, "every record again");
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(targets.received.length, before);
    });
  } finally {
    await running.stop();
    log.close();
  }
  await t.step("no secret reached a log line", () => {
    const text = logged.join("\n");
    for (const secret of [NTFY_TOKEN, TELEGRAM_TOKEN, DISCORD.token, WEBHOOK_SECRET]) {
      assert.ok(!text.includes(secret), "a secret was logged");
    }
  });
});

Deno.test("delivery retries 429 and 5xx honouring Retry-After, then dead-letters after the last attempt", async (t) => {
  await using env = await setup();
  const { bank, resource, targets } = env;
  const consumer = env.consumer();
  try {
    await t.step("429 with Retry-After: 1, then 503, then delivered once", async () => {
      targets.fail("webhook", { status: 429, headers: { "retry-after": "1" } }, { status: 503 });
      const tx = bank.addTransaction({ amountCents: -1000, description: "Shop" });
      await consumer.handle({
        topic: TOPIC,
        partition: 0,
        offset: "0",
        key: tx.id,
        value: new TextEncoder().encode(JSON.stringify(resource(tx))),
        headers: {},
        timestamp: "0",
      });
      await waitFor(() => targets.received.length === 1, "the webhook delivered", 10_000);
      const tries = targets.attempts.filter((a) => a.kind === "webhook");
      assert.deepEqual(tries.map((a) => a.status), [429, 503, 204]);
      assert.ok(tries[1].at - tries[0].at >= 950, "Retry-After: 1 was honoured");
      await waitFor(() => consumer.outbox.counts().sent === 1, "marked sent");
      assert.deepEqual(consumer.outbox.counts(), { pending: 0, sent: 1, dead: 0 });
    });

    await t.step(
      "a target that keeps failing ends as a dead letter, its secret not in the record",
      async () => {
        const all = Array.from(
          { length: 6 },
          () => ({ status: 500, body: `oops ${TELEGRAM_TOKEN}` }),
        );
        targets.fail("telegram", ...all);
        const tx = bank.addTransaction({
          amountCents: -15_000,
          description: "Kiosk",
          status: "SETTLED",
        });
        await consumer.handle({
          topic: TOPIC,
          partition: 0,
          offset: "1",
          key: tx.id,
          value: new TextEncoder().encode(JSON.stringify(resource(tx))),
          headers: {},
          timestamp: "0",
        });
        await waitFor(() => consumer.outbox.counts().dead === 1, "a dead letter", 15_000);
        const [dead] = consumer.outbox.deadLetters();
        assert.equal(dead.notification.target, "telegram");
        assert.equal(dead.attempts, 6);
        assert.match(dead.lastError, /^HTTP 500 oops \[secret\]/);
        assert.equal(targets.attempts.filter((a) => a.kind === "telegram").length, 6);
        assert.equal(targets.received.filter((r) => r.kind === "telegram").length, 0);
      },
    );
  } finally {
    await consumer.close();
  }
});

Deno.test("a target's rate limit spaces its notifications", async () => {
  await using env = await setup();
  const text = (await Deno.readTextFile(env.rulesPath)).replace(
    "    secret_env: NOTIFY_HOME_SECRET\n",
    "    secret_env: NOTIFY_HOME_SECRET\n    rate_per_minute: 120\n",
  );
  await Deno.writeTextFile(env.rulesPath, text);
  const loaded = await loadRules(env.rulesPath, { env: (name) => env.env[name] });
  const starts: number[] = [];
  const consumer = createNotifyConsumer({
    ...loaded,
    statePath: `${env.dir}/s.db`,
    logger,
    // When each request starts, as the rate limit sees it.
    delivery: { fetch: (input, init) => (starts.push(Date.now()), fetch(input, init)) },
  });
  try {
    for (let i = 0; i < 3; i++) {
      const tx = env.bank.addTransaction({ amountCents: -100 - i, description: `Shop ${i}` });
      await consumer.handle({
        topic: TOPIC,
        partition: 0,
        offset: String(i),
        key: tx.id,
        value: new TextEncoder().encode(JSON.stringify(env.resource(tx))),
        headers: {},
        timestamp: "0",
      });
    }
    await waitFor(() => env.targets.received.length === 3, "three webhooks", 10_000);
    assert.equal(starts.length, 3);
    assert.ok(
      starts[1] - starts[0] >= 495 && starts[2] - starts[1] >= 495,
      `120/min is one per 500 ms: ${starts}`,
    );
  } finally {
    await consumer.close();
  }
});

Deno.test("a notification recorded before a stop is sent after the restart, once", async () => {
  await using env = await setup();
  env.targets.fail("webhook", { status: 503 });
  const first = env.consumer();
  const tx = env.bank.addTransaction({ amountCents: -700, description: "Cafe" });
  const message = {
    topic: TOPIC,
    partition: 0,
    offset: "0",
    key: tx.id,
    value: new TextEncoder().encode(JSON.stringify(env.resource(tx))),
    headers: {},
    timestamp: "0",
  };
  await first.handle(message);
  await waitFor(() => env.targets.attempts.length === 1, "the failed attempt");
  await first.close(); // Stopped while the retry waits.
  assert.equal(env.targets.received.length, 0);
  const second = env.consumer();
  try {
    await second.handle(message); // The same record again: nothing new is recorded.
    await waitFor(() => second.outbox.counts().sent === 1, "sent after the restart", 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(env.targets.received.length, 1);
    assert.deepEqual(second.outbox.counts(), { pending: 0, sent: 1, dead: 0 });
  } finally {
    await second.close();
  }
});

Deno.test("a stop while a target holds a request lets it finish and marks it sent, so it is not sent again", async () => {
  await using env = await setup();
  let received!: () => void;
  const inFlight = new Promise<void>((resolve) => received = resolve);
  const consumer = createNotifyConsumer({
    ...env.loaded,
    statePath: `${env.dir}/notify/state.db`,
    logger,
    delivery: {
      // The target has the request and answers slowly: the stop comes before its answer.
      fetch: async (input, init) => {
        const response = await fetch(input, { ...init, signal: undefined });
        const body = await response.text();
        received();
        await new Promise((resolve) => setTimeout(resolve, 400));
        init?.signal?.throwIfAborted();
        return new Response(body === "" ? null : body, {
          status: response.status,
          headers: response.headers,
        });
      },
    },
  });
  const tx = env.bank.addTransaction({ amountCents: -900, description: "Bakery" });
  await consumer.handle({
    topic: TOPIC,
    partition: 0,
    offset: "0",
    key: tx.id,
    value: new TextEncoder().encode(JSON.stringify(env.resource(tx))),
    headers: {},
    timestamp: "0",
  });
  await inFlight;
  await consumer.close();
  const received1 = env.targets.received.length;
  assert.ok(received1 >= 1, "the target received it before the stop");
  const outbox = new Outbox(`${env.dir}/notify/state.db`);
  try {
    // What the targets received is marked sent; only what no target saw is sent on the next start.
    assert.equal(outbox.counts().sent, received1, "every received notification marked sent");
    assert.equal(outbox.counts().dead, 0);
  } finally {
    outbox.close();
  }
});

Deno.test("notify runs on Kafka too, and --dry-run says which rules would fire", async (t) => {
  await using env = await setup();
  const brokers = await testBrokers();
  const kafka = quietKafka(brokers);
  const topic = `upbus-test-notify-${crypto.randomUUID()}`;
  await ensureTransactionsTopic(kafka, topic, { partitions: 2 });
  const bar = env.bank.addTransaction({
    amountCents: -6100,
    description: "The Union Hotel",
    categoryId: "pubs-and-bars",
  });
  const coffee = env.bank.addTransaction({ amountCents: 450, description: "Refund" });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: [bar, coffee].map((tx) => transactionRecord(env.resource(tx), "test")),
  });
  await producer.disconnect();

  await t.step("--dry-run lists the latest transactions and the rules they fire", async () => {
    const lines: string[] = [];
    const environment: Record<string, string> = {
      ...env.env,
      KAFKA_BROKERS: brokers,
      TRANSACTIONS_TOPIC: topic,
      DATA_DIR: `${env.dir}/data`,
      LOG_LEVEL: "error",
    };
    const command = createConsumeCommand({
      env: (name) => environment[name],
      out: (line) => void lines.push(line),
    });
    assert.equal(await command.run(["notify", "--rules", env.rulesPath, "--dry-run", "5"]), 0);
    const text = lines.join("\n");
    assert.match(text, /-61\.00 {2}The Union Hotel: "bar over \$50", "every purchase, to home"/);
    assert.match(text, /-> phone: Bar: \$61\.00: The Union Hotel \$61\.00/);
    assert.match(text, /Refund: no rule/);
    assert.match(text, /2 transaction\(s\) checked against 3 rule\(s\); nothing was sent/);
    assert.equal(env.targets.attempts.length, 0, "a dry run sends nothing");
  });

  await t.step("the consumer group on Kafka delivers the bar notification", async () => {
    const consumer = env.consumer();
    const running = await startConsumer(
      { ...consumer, topic, fromBeginning: true },
      {
        source: kafkaRecordSource(kafka, { maxWaitTimeMs: 100 }),
        groupId: `g-${crypto.randomUUID()}`,
      },
    );
    try {
      await waitFor(() => env.targets.received.length === 2, "ntfy and webhook");
      assert.deepEqual(env.targets.received.map((r) => r.kind).sort(), ["ntfy", "webhook"]);
    } finally {
      await running.stop();
    }
  });
});

Deno.test("consume notify runs under its own permission set, and a SIGTERM stops it cleanly", async () => {
  await using env = await setup();
  const dataDir = await serviceDataDir();
  try {
    // The rules and the token file where the consume permission set may read them.
    const rules = (await Deno.readTextFile(env.rulesPath)).replace(
      `${env.dir}/telegram.token`,
      `${dataDir}/telegram.token`,
    );
    await Deno.writeTextFile(`${dataDir}/notify.yaml`, rules);
    await Deno.writeTextFile(`${dataDir}/telegram.token`, TELEGRAM_TOKEN);
    const [running] = await startUpbus(
      { command: "deno", prefix: ["run", "-P=consume", "--no-prompt", "main.ts"] },
      ["consume", "notify"],
      {
        env: { ...env.env, DATA_DIR: dataDir, NOTIFY_RULES: `${dataDir}/notify.yaml` },
        ready: (_line, log) => log?.msg === "consumer running" ? true : undefined,
      },
    );
    const log = await openLocalLog(dataDir);
    try {
      const bar = env.bank.addTransaction({
        amountCents: -7000,
        description: "The Union Hotel",
        categoryId: "pubs-and-bars",
      });
      log.append(TOPIC, [transactionRecord(env.resource(bar), "test")]);
      await waitFor(() => env.targets.received.length === 2, "ntfy and the webhook");
    } finally {
      log.close();
      const { code } = await running.stop("SIGTERM");
      assert.equal(code, 0, running.err.join("\n"));
    }
    const output = running.err.join("\n") + running.out.join("\n");
    for (const secret of [NTFY_TOKEN, TELEGRAM_TOKEN, DISCORD.token, WEBHOOK_SECRET]) {
      assert.ok(!output.includes(secret), "a secret was printed");
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

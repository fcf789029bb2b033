/**
 * The dashboard in headless Chromium: with the whole pipeline running (Up simulator, the upbus
 * service publishing to the real broker, the enricher, the position consumer and its
 * dashboard), `simulate transaction-created` makes the open page show the new transaction and
 * the new balance, with no reload; at 390, 1280 and 1920 px nothing overflows or is clipped.
 * Screenshots go to a temporary directory, or with `UPBUS_SCREENSHOT=1` to
 * docs/dashboard-390.png, docs/dashboard-1280.png and docs/dashboard-1920.png.
 */
import assert from "node:assert/strict";
import { backfill } from "../../../lib/enrich/backfill.ts";
import { createSimulateCommand } from "../../../lib/cli/simulate.ts";
import { createPositionConsumer } from "../../../lib/consumers/position/position_consumer.ts";
import { startConsumer } from "../../../lib/bus/runner.ts";
import { formatDollars as dollars } from "../../../lib/runtime/money.ts";
import { shortDay } from "../../../lib/consumers/position/spend_chart.ts";
import { startEnricher } from "../../../lib/enrich/enricher.ts";
import { kafkaRecordSource } from "../../../lib/bus/kafka/record_source.ts";
import { transactionRecord } from "../../../lib/bus/transaction_record.ts";
import { loadConfig } from "../../../lib/service/config.ts";
import { createLogger } from "../../../lib/runtime/log.ts";
import { startService } from "../../../lib/service/service.ts";
import { createUpClient } from "../../../lib/up/client.ts";
import { serveUpSimulator } from "../../../lib/up_sim/server.ts";
import { launchChromium } from "../../support/browser.ts";
import { testBrokers } from "../../support/kafka.ts";
import { Partitioners } from "kafkajs";
import { quietKafka, waitFor } from "../../support/pipeline.ts";

const quiet = createLogger({ write: () => {} });

/**
 * Run in the page: a footer or axis that wraps onto a second line, and a name cut with an
 * ellipsis that cannot be read whole (no title attribute holding it); empty when all is well.
 */
const CUT_OR_WRAPPED = `(() => {
  const problems = [];
  for (const axis of document.querySelectorAll(".axis")) {
    const tops = [...axis.children].map((child) => Math.round(child.getBoundingClientRect().top));
    if (new Set(tops).size > 1) {
      const card = axis.closest(".card");
      problems.push("axis of " + (card.id || card.querySelector("h2").textContent) + " wraps: " + axis.textContent);
    }
  }
  for (const element of document.querySelectorAll("main *")) {
    if (getComputedStyle(element).textOverflow !== "ellipsis") continue;
    if (element.scrollWidth <= element.clientWidth) continue;
    if (element.title !== element.textContent) {
      problems.push("cut without a title: " + element.textContent);
    }
  }
  return problems;
})()`;
const WIDTHS = [390, 1280, 1920] as const;

/**
 * Run in the page: what overflows or is clipped at its current width; empty when all fits.
 * (Text, not a function: the tests are type-checked without the DOM's types.)
 */
const OVERFLOWS = `(() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push("page: scrollWidth " + root.scrollWidth + " > clientWidth " + root.clientWidth);
  }
  for (const card of document.querySelectorAll(".card")) {
    const name = card.id || card.dataset.account;
    if (card.scrollWidth > card.clientWidth) {
      problems.push("card " + name + ": scrollWidth " + card.scrollWidth + " > " + card.clientWidth);
    }
    const box = card.getBoundingClientRect();
    for (const amount of card.querySelectorAll(".amount")) {
      const text = amount.textContent;
      const rect = amount.getBoundingClientRect();
      if (amount.scrollWidth > Math.ceil(rect.width)) {
        problems.push("amount " + text + " clipped: " + amount.scrollWidth + " > " + rect.width);
      }
      if (rect.left < box.left - 0.5 || rect.right > box.right + 0.5) {
        problems.push("amount " + text + " sticks out of card " + name);
      }
      if (!/^-?\\$\\d{1,3}(,\\d{3})*\\.\\d{2}$/.test(text)) problems.push("amount " + text + " is cut");
    }
  }
  for (const date of document.querySelectorAll(".tx .d")) {
    if (date.getClientRects().length > 1 || date.scrollWidth > Math.ceil(date.getBoundingClientRect().width)) {
      problems.push("date " + date.textContent + " does not fit on one line");
    }
  }
  return problems;
})()`;

Deno.test("the dashboard shows a simulated transaction and the new balance without a reload", async (t) => {
  const brokers = await testBrokers();
  const id = crypto.randomUUID();
  const events = `upbus-test-events-${id}`;
  const transactions = `upbus-test-transactions-${id}`;
  const dataDir = await Deno.makeTempDir();
  const sim = serveUpSimulator({
    port: 0,
    seedTransactions: 25,
    seedMonth: true,
    retryDelaysMs: [100, 500],
  });
  // A six-figure saver: its card's footer (first day, low, high) is the widest on the page.
  sim.bank.addTransaction({
    accountId: sim.bank.accounts[1].id,
    amountCents: 9_000_000,
    description: "Inheritance",
    status: "SETTLED",
    createdAt: Date.now() - 10 * 86_400_000,
  });
  // The webhook's URL is set once the service listens; its secret is needed before.
  const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus");
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: events,
    UP_WEBHOOK_SECRETS: webhook.secretKey,
  };
  const service = await startService(loadConfig((name) => env[name]), { logger: quiet });
  webhook.url = `http://127.0.0.1:${service.address.port}/webhook`;
  const up = createUpClient({ token: sim.token, baseUrl: sim.baseUrl });
  const kafka = quietKafka(brokers);
  const enricher = await startEnricher({
    kafka,
    up,
    sourceTopic: events,
    targetTopic: transactions,
    groupId: `upbus-test-enricher-${id}`,
    dataDir,
    logger: quiet,
  });
  // History first, as `backfill` imports it, so that the page has something to show.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await backfill({
    up,
    since: new Date(Date.now() - 30 * 24 * 3_600_000),
    checkpointPath: `${dataDir}/backfill.json`,
    publish: async (page) => {
      await producer.send({
        topic: transactions,
        messages: page.map((transaction) => transactionRecord(transaction, "backfill")),
      });
    },
  });
  await producer.disconnect();
  const position = createPositionConsumer({
    topic: transactions,
    endOffsets: await kafkaRecordSource(kafka).endOffsets(transactions),
    up,
    reconcileMs: 60_000,
    dashboard: { port: 0 },
    completeAt: () => Promise.resolve(Date.parse("2026-12-07T09:30:00+11:00")),
    logger: quiet,
  });
  const running = await startConsumer(position, {
    source: kafkaRecordSource(kafka, { maxWaitTimeMs: 100 }),
    logger: quiet,
  });
  const browser = await launchChromium();
  const screenshots = await Deno.makeTempDir();
  try {
    await position.rebuilt;
    await waitFor(() => position.snapshot().reconciledAt !== null, "the first reconciliation");
    const spending = sim.bank.accounts[0];
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(position.dashboard!.url);
    const balanceCell = page.locator(`[data-account="${spending.id}"] .balance`);

    await t.step("the page shows Up's balances and names, with no external asset", async () => {
      assert.equal(await balanceCell.textContent(), dollars(sim.bank.balanceOf(spending.id)));
      assert.equal(
        await page.locator(`[data-account="${spending.id}"] h2`).textContent(),
        "Spending",
      );
      const text = await page.locator("main").innerText();
      assert.ok(text.includes("Restaurants & Cafes"), "Up's category name");
      assert.ok(!/restaurants-and-cafes|public-transport/.test(text), "no category id");
      assert.ok(!text.includes(spending.id.slice(0, 8)), "no account id");
      assert.equal(await page.locator("#problem").isHidden(), true, "no problem to report");
      assert.match(
        await page.locator("#footer").innerText(),
        /Every event Up sent confirmed received at 9:30/,
        "when upbus last confirmed it is complete",
      );
      const html = await (await fetch(position.dashboard!.url)).text();
      assert.ok(!/(src|href)="(https?:)?\/\//.test(html), "no CDN, no external asset");
      await waitFor(() => position.dashboard!.clients === 1, "the page's event stream");
    });

    await t.step("balance history and spend per day are inline SVG charts", async () => {
      const polyline = page.locator(`[data-account="${spending.id}"] svg.balance-chart polyline`);
      assert.equal(await polyline.count(), 1);
      const points = (await polyline.getAttribute("points"))!.trim().split(" ");
      assert.equal(points.length, 30, "one point per day");
      const bars = page.locator("#spend-chart svg rect.bar");
      assert.equal(await bars.count(), 30);
      const rent = snapshotSpendDays(position.snapshot()).filter((cents) => cents > 0).length;
      assert.ok(rent >= 10, `spend on ${rent} days`);
      // Axes: the highest day's amount at the top, $0 at the foot, a date under each week.
      const days = position.snapshot().spendDays;
      assert.equal(
        await page.locator("#spend-days .y-axis").innerText(),
        `${dollars(Math.max(...days.map((day) => day.cents)))}\n$0`,
      );
      const ticks = await page.locator("#spend-ticks span").allTextContents();
      assert.equal(ticks.length, 5, ticks.join());
      assert.equal(ticks[0], shortDay(days[0].day));
      assert.equal(ticks[2], shortDay(days[Math.round((days.length - 1) / 2)].day));
      assert.equal(ticks[4], "today");
    });

    await t.step(
      "a simulated transaction appears, and the balance moves, without a reload",
      async () => {
        await page.evaluate(() => Object.assign(globalThis, { sameDocument: true }));
        const simulate = createSimulateCommand({
          env: (name) => ({ UP_API_BASE: sim.baseUrl, UP_API_TOKEN: sim.token })[name],
          out: () => {},
          err: () => {},
        });
        const started = performance.now();
        const simulated = simulate.run([
          "transaction-created",
          "--amount",
          "-23.45",
          "--description",
          "Dashboard Cafe",
          "--category",
          "restaurants-and-cafes",
        ]);
        const row = page.locator("#transactions .tx", { hasText: "Dashboard Cafe" });
        await row.waitFor({ timeout: 10_000 });
        const expected = dollars(sim.bank.balanceOf(spending.id));
        const exactly = new RegExp(`^${expected.replace(/[$.]/g, "\\$&")}$`);
        await page.locator(`[data-account="${spending.id}"] .balance`, { hasText: exactly })
          .waitFor({ timeout: 10_000 });
        const elapsed = performance.now() - started;
        assert.equal(await simulated, 0);
        console.log(`simulate → dashboard updated in ${Math.round(elapsed)} ms`);
        assert.ok(elapsed < 3000, `the page updated after ${Math.round(elapsed)} ms`);
        assert.equal(await page.evaluate(() => "sameDocument" in globalThis), true, "no reload");
        assert.equal(await row.locator(".amount").textContent(), "-$23.45");
        assert.equal(await row.locator(".c").textContent(), "Restaurants & Cafes");
        assert.equal(await row.locator(".tag.held").textContent(), "Held");
        assert.equal(
          await page.locator("#categories [data-category='restaurants-and-cafes'] .name")
            .textContent(),
          "Restaurants & Cafes",
        );
      },
    );

    await t.step("income shows without a category, in its own colour", async () => {
      const simulate = createSimulateCommand({
        env: (name) => ({ UP_API_BASE: sim.baseUrl, UP_API_TOKEN: sim.token })[name],
        out: () => {},
        err: () => {},
      });
      assert.equal(
        await simulate.run(["transaction-created", "--amount", "2500", "--description", "Bonus"]),
        0,
      );
      const row = page.locator("#transactions .tx", { hasText: "Bonus" });
      await row.waitFor({ timeout: 10_000 });
      assert.equal(await row.locator(".amount").textContent(), "$2,500.00");
      assert.equal(await row.locator(".c").textContent(), "Income");
      assert.match(await row.locator(".amount").getAttribute("class") ?? "", /\bin\b/);
    });

    await t.step(
      "at 360 px, a smaller phone, footers keep to one line and nothing is cut",
      async () => {
        await page.setViewportSize({ width: 360, height: 800 });
        await page.waitForTimeout(100);
        assert.deepEqual(await page.evaluate(OVERFLOWS), []);
        assert.deepEqual(await page.evaluate(CUT_OR_WRAPPED), []);
      },
    );

    for (const width of WIDTHS) {
      await t.step(
        `at ${width} px nothing overflows, no amount is cut, dates keep to one line`,
        async () => {
          await page.setViewportSize({ width, height: width < 600 ? 844 : 1000 });
          await page.waitForTimeout(100);
          assert.deepEqual(await page.evaluate(OVERFLOWS), []);
          assert.deepEqual(await page.evaluate(CUT_OR_WRAPPED), []);
          const amounts = await page.locator(".tx .amount").allTextContents();
          assert.ok(amounts.includes("-$23.45") && amounts.includes("$2,500.00"), amounts.join());
          const dir = Deno.env.get("UPBUS_SCREENSHOT")
            ? new URL("../../../docs/", import.meta.url).pathname
            : screenshots;
          await page.screenshot({
            path: `${dir}/dashboard-${width}.png`,
            fullPage: true,
            animations: "disabled",
          });
          assert.ok((await Deno.stat(`${dir}/dashboard-${width}.png`)).size > 10_000);
        },
      );
    }
  } finally {
    await browser.close();
    await running.stop();
    await enricher.stop();
    await service.shutdown();
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(screenshots, { recursive: true });
  }
});

function snapshotSpendDays(snapshot: { spendDays: { cents: number }[] }): number[] {
  return snapshot.spendDays.map((day) => day.cents);
}

Deno.test("the page says in words why balances are missing when Up rejects the token", async () => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  const position = createPositionConsumer({
    up: createUpClient({ token: "up:yeah:revoked", baseUrl: sim.baseUrl, maxRetries: 0 }),
    reconcileMs: 0,
    dashboard: { port: 0 },
    logger: quiet,
  });
  const browser = await launchChromium();
  try {
    await position.reconcile().catch(() => {});
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(position.dashboard!.url);
    const problem = page.locator("#problem");
    assert.equal(await problem.isVisible(), true);
    assert.match(await problem.innerText(), /Up rejected the token \(HTTP 401\)/);
    assert.match(await problem.innerText(), /Set UP_API_TOKEN/);
    assert.deepEqual(await page.evaluate(OVERFLOWS), []);
  } finally {
    await browser.close();
    await position.close?.();
    await sim.shutdown();
  }
});

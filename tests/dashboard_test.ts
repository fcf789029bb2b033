/**
 * The "Done when", in headless Chromium: with the whole pipeline running (Up simulator,
 * the upbus service publishing to the real broker, the enricher, the position consumer and its
 * dashboard), `simulate transaction-created` makes the open page show the new transaction and
 * the new balance, with no reload. `UPBUS_SCREENSHOT=1` saves docs/dashboard.png.
 */
import assert from "node:assert/strict";
import { backfill } from "../lib/backfill.ts";
import { createSimulateCommand } from "../lib/cli/simulate.ts";
import { createPositionConsumer, topicEndOffsets } from "../lib/consumers/position_consumer.ts";
import { startConsumer } from "../lib/consumers/runner.ts";
import { dollars } from "../lib/consumers/spend_chart.ts";
import { startEnricher } from "../lib/enricher.ts";
import { kafkaRecordSource } from "../lib/kafka/record_source.ts";
import { transactionRecord } from "../lib/kafka/transaction_record.ts";
import { loadConfig } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { startService } from "../lib/service.ts";
import { createUpClient } from "../lib/up/client.ts";
import { serveUpSimulator } from "../lib/up/simulator/server.ts";
import { launchChromium } from "./support/browser.ts";
import { testBrokers } from "./support/kafka.ts";
import { Partitioners } from "kafkajs";
import { quietKafka, waitFor } from "./support/pipeline.ts";

const quiet = createLogger({ write: () => {} });

Deno.test("the dashboard shows a simulated transaction and the new balance without a reload", async (t) => {
  const brokers = await testBrokers();
  const id = crypto.randomUUID();
  const events = `upbus-test-events-${id}`;
  const transactions = `upbus-test-transactions-${id}`;
  const dataDir = await Deno.makeTempDir();
  const sim = serveUpSimulator({ port: 0, seedTransactions: 25, retryDelaysMs: [100, 500] });
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
    endOffsets: await topicEndOffsets(kafka, transactions),
    up,
    reconcileMs: 60_000,
    dashboard: { port: 0 },
    logger: quiet,
  });
  const running = await startConsumer(position, {
    source: kafkaRecordSource(kafka, { maxWaitTimeMs: 100 }),
    logger: quiet,
  });
  const browser = await launchChromium();
  try {
    await position.rebuilt;
    await waitFor(() => position.snapshot().reconciledAt !== null, "the first reconciliation");
    const spending = sim.bank.accounts[0];
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    await page.goto(position.dashboard!.url);
    const balanceCell = page.locator(`tr[data-account="${spending.id}"] td.balance`);

    await t.step("the page shows Up's balances with no external asset", async () => {
      assert.equal(await balanceCell.textContent(), dollars(sim.bank.balanceOf(spending.id)));
      const html = await (await fetch(position.dashboard!.url)).text();
      assert.ok(!/(src|href)="(https?:)?\/\//.test(html), "no CDN, no external asset");
      await waitFor(() => position.dashboard!.clients === 1, "the page's event stream");
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
        await page.locator("#transactions td", { hasText: "Dashboard Cafe" }).waitFor({
          timeout: 10_000,
        });
        const expected = dollars(sim.bank.balanceOf(spending.id));
        const exactly = new RegExp(`^${expected.replace(/[$.]/g, "\\$&")}$`);
        await page.locator(`tr[data-account="${spending.id}"] td.balance`, { hasText: exactly })
          .waitFor({ timeout: 10_000 });
        const elapsed = performance.now() - started;
        assert.equal(await simulated, 0);
        console.log(`simulate → dashboard updated in ${Math.round(elapsed)} ms`);
        assert.ok(elapsed < 3000, `the page updated after ${Math.round(elapsed)} ms`);
        assert.equal(await page.evaluate(() => "sameDocument" in globalThis), true, "no reload");
        assert.ok(
          await page.locator("#chart-today svg g[data-category='restaurants-and-cafes']")
            .count() ===
            1,
          "the spend chart has the category",
        );
        if (Deno.env.get("UPBUS_SCREENSHOT")) {
          await page.screenshot({
            path: new URL("../docs/dashboard.png", import.meta.url).pathname,
          });
        }
      },
    );
  } finally {
    await browser.close();
    await running.stop();
    await enricher.stop();
    await service.shutdown();
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

/**
 * The one-process pipeline as its systemd unit runs it: deploy/upbus-run.service's ExecStart
 * (`upbus run`) under the unit's environment and an environment file made from
 * deploy/upbus.env.example, with the stages enrich, position and notify, the Up simulator as Up
 * and local notification targets (ntfy). A simulated purchase reaches the dashboard and ntfy; the
 * notify stage, made to throw on its first record (`UPBUS_TEST_FAULT`, test-only), is started
 * again by the supervisor while the others run on, and misses nothing; `/readyz` and `/metrics`
 * report every stage; SIGTERM stops it with exit code 0. In embedded mode and with Kafka.
 */
import assert from "node:assert/strict";
import { createSimulatorControl } from "../../lib/up_sim/control.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { testBrokers } from "../support/kafka.ts";
import { serveLocalTargets } from "../support/notify_targets.ts";
import { waitFor } from "../support/pipeline.ts";
import { ntfyRules, startRunUnit } from "../support/run_unit.ts";

const NTFY_TOKEN = "tk_rununittoken00001";

async function onePipeline(t: Deno.TestContext, brokers?: string): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "upbus-run-unit-" });
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0, retryDelaysMs: [200, 1000] });
  const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus run");
  const targets = serveLocalTargets({
    webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    telegramToken: "1:unused",
    discord: { id: "1", token: "unused" },
  });
  await Deno.writeTextFile(`${stateDir}/notify.yaml`, ntfyRules(targets.url));
  const id = crypto.randomUUID();
  const kafka: Record<string, string> = brokers === undefined ? {} : {
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: `run-events-${id}`,
    TRANSACTIONS_TOPIC: `run-transactions-${id}`,
    KAFKA_TOPIC_PARTITIONS: "1",
    KAFKA_REPLICATION_FACTOR: "1",
  };
  const unit = await startRunUnit({
    deno: { command: "deno", prefix: [] },
    stateDir,
    settings: {
      PORT: "0",
      HOST: "127.0.0.1",
      OPS_PORT: "0",
      DASHBOARD_PORT: "0",
      UP_WEBHOOK_SECRETS: webhook.secretKey,
      UP_API_TOKEN: sim.token,
      UP_API_BASE: sim.baseUrl,
      UPBUS_STAGES: "enrich,position,notify",
      NOTIFY_NTFY_TOKEN: NTFY_TOKEN,
      UPBUS_TEST_FAULT: "notify",
      ...kafka,
    },
  });
  const { process } = unit;
  try {
    webhook.url = unit.webhookUrl;
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
    const ntfy = () =>
      targets.received.filter((r) => r.kind === "ntfy").map((r) => String(r.body.message));
    const page = async () => await (await fetch(unit.dashboardUrl!)).text();

    await t.step("every stage is ready, and /readyz names each", async () => {
      const response = await fetch(`${unit.opsUrl}/readyz`);
      const body = await response.json();
      assert.equal(response.status, 200, JSON.stringify(body));
      for (const stage of ["enrich", "position", "notify"]) {
        assert.equal(body.checks[`stage:${stage}`], "running", JSON.stringify(body));
      }
    });

    await t.step(
      "a purchase reaches the dashboard and ntfy, though notify failed on it once",
      async () => {
        await control.createTransaction({ amount: "-7.40", description: "Bourke St Bakery" });
        await waitFor(async () => (await page()).includes("Bourke St Bakery"), "the dashboard");
        await waitFor(() => ntfy().length >= 1, "ntfy", 60_000);
        assert.deepEqual(ntfy(), ["Bourke St Bakery $7.40"]);
        const failed = process.logs.find((log) => log.msg === "stage failed; starting it again");
        assert.equal(failed?.stage, "notify", JSON.stringify(failed));
        assert.match(String(failed?.error), /UPBUS_TEST_FAULT=notify/);
        assert.equal(
          process.logs.filter((log) => log.msg === "stage failed; starting it again").length,
          1,
          "the other stages ran on",
        );
      },
    );

    await t.step("/readyz and /metrics report the restart and every stage", async () => {
      const body = await (await fetch(`${unit.opsUrl}/readyz`)).json();
      assert.equal(body.status, "ready", JSON.stringify(body));
      assert.match(body.checks["stage:notify"], /^running \(started again 1 time; last failure: /);
      assert.equal(body.checks["stage:enrich"], "running");
      const metrics = await (await fetch(`${unit.opsUrl}/metrics`)).text();
      for (const stage of ["enrich", "position", "notify"]) {
        assert.match(metrics, new RegExp(`^upbus_stage_up\\{stage="${stage}"\\} 1$`, "m"));
      }
      assert.match(metrics, /^upbus_stage_restarts_total\{stage="notify"\} 1$/m);
      assert.match(metrics, /^upbus_stage_restarts_total\{stage="position"\} 0$/m);
      assert.match(metrics, /^upbus_stage_records_total\{stage="enrich",count="published"\} 1$/m);
      assert.match(metrics, /^upbus_stage_records_total\{stage="notify",count="handled"\} 1$/m);
      assert.match(metrics, /^upbus_position_transactions\b.* 1$/m);
      assert.match(metrics, /^upbus_events_stored_total 1$/m);
    });

    await t.step("the next purchase reaches ntfy once, after the first", async () => {
      await control.createTransaction({ amount: "-21.00", description: "Readings Books" });
      await waitFor(() => ntfy().length >= 2, "ntfy", 60_000);
      await waitFor(async () => (await page()).includes("Readings Books"), "the dashboard");
      // A moment for a duplicate to show, if one were coming.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.deepEqual(ntfy(), ["Bourke St Bakery $7.40", "Readings Books $21.00"]);
    });

    await t.step("SIGTERM stops the service and every stage, exit code 0", async () => {
      const { code } = await process.stop("SIGTERM");
      assert.equal(code, 0, process.err.join("\n"));
      const messages = process.logs.map((log) => log.msg);
      assert.ok(messages.includes("stopped"), "the service stopped in order");
    });
  } finally {
    await process.stop("SIGKILL");
    await targets.close();
    await sim.shutdown();
    await Deno.remove(stateDir, { recursive: true });
  }
}

Deno.test("upbus run from its unit, embedded: purchase to dashboard and ntfy, a failed stage comes back", async (t) => {
  await onePipeline(t);
});

Deno.test("upbus run from its unit, with Kafka: purchase to dashboard and ntfy, a failed stage comes back", async (t) => {
  await onePipeline(t, await testBrokers());
});

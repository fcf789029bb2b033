/**
 * Every subcommand of upbus, end to end in their own processes, the way a user on a Pi runs them:
 * up-sim, serve (with the shared Kafka test broker), register-webhook --url, simulate, webhooks,
 * register-webhook without ngrok's add-on, demo, and serve's exit on SIGTERM. Shared by the
 * permission-parity test (from source, with the binary's flags) and the compile test (the binary).
 *
 * @module
 */
import { selectPublishState } from "../../lib/store/queries.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { testBrokers } from "./kafka.ts";
import { serviceDataDir } from "./service_process.ts";
import {
  runUpbus,
  startServe,
  startUpbus,
  startUpSim,
  type UpbusProgram,
} from "./upbus_program.ts";

const TOKEN = "up:sim:every-subcommand";

/**
 * Runs every subcommand as steps of `t`.
 *
 * @param t The test context.
 * @param program How to start upbus.
 */
export async function exerciseSubcommands(
  t: Deno.TestContext,
  program: UpbusProgram,
): Promise<void> {
  const brokers = await testBrokers();
  const dataDir = await serviceDataDir();
  const topic = `upbus-subcommands-${crypto.randomUUID()}`;
  const [sim, api] = await startUpSim(program, TOKEN);
  const [serve, url] = await startServe(program, {
    DATA_DIR: dataDir,
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: topic,
    KAFKA_TOPIC_PARTITIONS: "1",
  });
  const env = { ...api, DATA_DIR: dataDir };
  try {
    await t.step("serve: /healthz answers, /readyz says no secret yet", async () => {
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 503);
      await ready.body?.cancel();
    });

    await t.step("register-webhook --url: created, secret stored, PING delivered", async () => {
      const run = await runUpbus(program, [
        "register-webhook",
        "--url",
        `${url}/webhook`,
        "--timeout",
        "20",
      ], { env });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /PING delivered/);
    });

    await t.step("serve: /readyz is ready (store, Kafka, secret)", async () => {
      let status = 0;
      let body = "";
      for (let i = 0; i < 100 && status !== 200; i++) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
        const response = await fetch(`${url}/readyz`);
        status = response.status;
        body = await response.text();
      }
      assert.equal(status, 200, body);
    });

    await t.step("simulate transaction-created: a signed event delivered and stored", async () => {
      const run = await runUpbus(program, ["simulate", "transaction-created"], { env });
      assert.equal(run.code, 0, run.stdout + run.stderr);
    });

    await t.step("webhooks list: shows the registered webhook", async () => {
      const run = await runUpbus(program, ["webhooks", "list"], { env });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.ok(run.stdout.includes(`${url}/webhook`), run.stdout);
    });

    await t.step(
      "register-webhook without ngrok's add-on: says to use --url or the agent",
      async () => {
        const run = await runUpbus(program, ["register-webhook", "--port", "9"], {
          env: { ...env, NGROK_AUTHTOKEN: "not-a-real-token" },
        });
        assert.equal(run.code, 1, run.stdout + run.stderr);
        assert.match(run.stderr, /Cannot open an ngrok tunnel: the ngrok add-on could not load/);
        assert.match(run.stderr, /pass --url/);
        assert.match(run.stderr, /ngrok http 9/);
      },
    );

    await t.step("demo: a simulated purchase on its dashboard, then SIGTERM stops it", async () => {
      const [demo, dashboard] = await startUpbus(
        program,
        ["demo", "--port", "0", "--dashboard-port", "0", "--sim-port", "0"],
        {
          env: { DATA_DIR: dataDir },
          ready: (line) => line.match(/^Dashboard: (\S+)$/)?.[1],
          // Under qemu (tests/deploy/arm64_test.ts) it takes about 25 s.
          timeoutMs: 120_000,
        },
      );
      try {
        const position = await (await fetch(new URL("position.json", dashboard))).text();
        assert.match(position, /Campos Coffee/);
      } finally {
        const { code } = await demo.stop("SIGTERM");
        assert.equal(code, 0, demo.err.join("\n"));
      }
    });

    await t.step(
      "serve: stops on SIGTERM with exit 0, both events stored and published",
      async () => {
        const { code } = await serve.stop("SIGTERM");
        assert.equal(code, 0, serve.err.join("\n"));
        const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
        try {
          const rows = db.prepare("SELECT type FROM events ORDER BY seq").all();
          assert.deepEqual(rows.map((row) => row.type), ["PING", "TRANSACTION_CREATED"]);
          const published = [...selectPublishState(db).values()];
          assert.deepEqual(published, [true, true], "both published");
        } finally {
          db.close();
        }
      },
    );
  } finally {
    await serve.stop("SIGKILL");
    const { code } = await sim.stop("SIGTERM");
    assert.equal(code, 0, sim.err.join("\n"));
    await Deno.remove(dataDir, { recursive: true });
  }
}

/**
 * upbus on a Raspberry Pi's architecture, for real: the ARM64 (aarch64) build of this same Deno
 * version (npm's `@deno/linux-arm64-glibc`) runs upbus's own code under QEMU user-mode emulation
 * (Debian's `qemu-user`, with Debian's ARM64 C library in /usr/aarch64-linux-gnu). It shows that
 * node:sqlite, the store and relay workers, kafkajs, Hono and the permission sets work on aarch64,
 * and whether ngrok's ARM64 add-on loads. The Kafka broker is this machine's JVM on loopback and
 * the Up simulator of the pipeline tests runs in this process: what runs emulated is upbus.
 *
 * `.ci/arm64_deno` installs the emulator, the libraries and that deno (with its own DENO_DIR). On a
 * developer machine without them the tests are skipped, and say why; under `CI=true` they fail.
 * Emulation is slow (a command starts in seconds, not milliseconds): the time limits are generous
 * and the work small.
 *
 * Permissions: as the test task, plus `--allow-run=qemu-aarch64` and `--allow-env=CI`.
 */
import { selectPublishState } from "../../lib/store/queries.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createSimulatorControl } from "../../lib/up_sim/control.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { runPermissionArgs } from "../../tasks/compile.ts";
import { testBrokers } from "../support/kafka.ts";
import { waitFor } from "../support/pipeline.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { exerciseSubcommands } from "../support/subcommands.ts";
import { serveLocalTargets } from "../support/notify_targets.ts";
import { ntfyRules, startRunUnit } from "../support/run_unit.ts";
import {
  PROJECT_ROOT,
  startServe,
  startUpbus,
  type UpbusProgram,
} from "../support/upbus_program.ts";

/** Where `.ci/arm64_deno` puts the ARM64 deno and its DENO_DIR. */
const ARM64_HOME = `${Deno.env.get("HOME")}/.cache/upbus/arm64`;
const ARM64_DENO = `${ARM64_HOME}/deno-${Deno.version.deno}/package/deno`;
const ARM64_DENO_DIR = `${ARM64_HOME}/deno_dir`;
/** Debian's ARM64 libraries (libc6-arm64-cross), where qemu-aarch64 looks for the loader. */
const QEMU_LD_PREFIX = "/usr/aarch64-linux-gnu";
/** Time limit of one emulated command. */
const EMULATED_TIMEOUT_MS = 180_000;

/** The ARM64 deno under qemu-aarch64, running main.ts with `permissionArgs`. */
function arm64Program(permissionArgs: string[]): UpbusProgram {
  return {
    command: "qemu-aarch64",
    prefix: [ARM64_DENO, "run", ...permissionArgs, "main.ts"],
    env: { QEMU_LD_PREFIX, DENO_DIR: ARM64_DENO_DIR },
    timeoutMs: EMULATED_TIMEOUT_MS,
  };
}

/** `deno run -P=<set> main.ts` on ARM64: a subcommand under its own task's permission set. */
function arm64Task(permissionSet: string): UpbusProgram {
  return arm64Program([`-P=${permissionSet}`, "--no-prompt"]);
}

/** Why the ARM64 deno cannot run here, or `undefined` when it can. */
async function cannotEmulate(): Promise<string | undefined> {
  if (
    (await Deno.permissions.query({ name: "run", command: "qemu-aarch64" })).state !== "granted"
  ) {
    return "the tests run without --allow-run=qemu-aarch64";
  }
  try {
    await Deno.stat(ARM64_DENO);
  } catch (error) {
    return `${
      (error as Error).message
    }: run .ci/arm64_deno (as root: it installs qemu-user, libgcc-s1-arm64-cross and npm's @deno/linux-arm64-glibc@${Deno.version.deno})`;
  }
  try {
    const { success, stdout, stderr } = await new Deno.Command("qemu-aarch64", {
      args: [ARM64_DENO, "--version"],
      env: { QEMU_LD_PREFIX },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(success ? stdout : stderr).trim();
    const expected = `deno ${Deno.version.deno} (stable, release, aarch64-unknown-linux-gnu)`;
    return text.split("\n")[0] === expected
      ? undefined
      : `qemu-aarch64 ${ARM64_DENO} --version printed "${text}", not "${expected}" (are Debian's ARM64 libraries in ${QEMU_LD_PREFIX}? run .ci/arm64_deno)`;
  } catch (error) {
    return `qemu-aarch64 cannot start: ${(error as Error).message}: run .ci/arm64_deno`;
  }
}

function onCi(): boolean {
  const { state } = Deno.permissions.querySync({ name: "env", variable: "CI" });
  return state === "granted" && Deno.env.get("CI") === "true";
}

const reason = await cannotEmulate();
const required = onCi();
if (reason !== undefined && !required) console.log(`arm64_test: skipping: ${reason}`);

/** The tests' options: skipped when the emulator is missing, except under CI, where they fail. */
function arm64Test(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({
    name,
    ignore: reason !== undefined && !required,
    async fn(t) {
      if (reason !== undefined) {
        throw new Error(`Cannot run upbus on ARM64 under CI=true: ${reason}`);
      }
      await fn(t);
    },
  });
}

arm64Test("the ARM64 deno is this Deno version, built for aarch64", async () => {
  const { code, stdout, stderr } = await new Deno.Command("qemu-aarch64", {
    args: [ARM64_DENO, "eval", "console.log(Deno.build.target, Deno.version.deno)"],
    env: { QEMU_LD_PREFIX, DENO_DIR: ARM64_DENO_DIR, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, decoder.decode(stderr));
  assert.equal(decoder.decode(stdout).trim(), `aarch64-unknown-linux-gnu ${Deno.version.deno}`);
});

arm64Test(
  "on ARM64 every subcommand works under the binary's permissions, serve with Kafka",
  async (t) => {
    await exerciseSubcommands(t, arm64Program(runPermissionArgs()));
  },
);

/**
 * A simulated transaction from the Up simulator (in this process) through `serve`, `enrich` and
 * `consume position` on ARM64, each under its own task's permission set, to the dashboard.
 */
async function pipelineOnArm64(t: Deno.TestContext, brokers?: string): Promise<void> {
  const dataDir = await serviceDataDir();
  const sim = serveUpSimulator({ port: 0, seedTransactions: 1, retryDelaysMs: [1000, 3000, 9000] });
  const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus on arm64");
  const id = crypto.randomUUID();
  const kafka: Record<string, string> = brokers === undefined ? {} : {
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: `arm64-events-${id}`,
    TRANSACTIONS_TOPIC: `arm64-transactions-${id}`,
    KAFKA_TOPIC_PARTITIONS: "1",
  };
  const env = { UP_API_BASE: sim.baseUrl, UP_API_TOKEN: sim.token, DATA_DIR: dataDir, ...kafka };
  const started: Array<{ stop(signal?: Deno.Signal): Promise<{ code: number }> }> = [];
  try {
    const [serve, url] = await startServe(arm64Task("serve"), {
      ...env,
      UP_WEBHOOK_SECRETS: webhook.secretKey,
    });
    started.push(serve);
    webhook.url = `${url}/webhook`;
    const [enricher] = await startUpbus(arm64Task("enrich"), ["enrich"], {
      env,
      ready: (_line, log) => log?.msg === "enricher running" ? true : undefined,
    });
    started.push(enricher);
    const [position, dashboardUrl] = await startUpbus(arm64Task("consume"), [
      "consume",
      "position",
    ], {
      env: { ...env, DASHBOARD_PORT: "0" },
      ready: (_line, log) => log?.msg === "dashboard listening" ? String(log.url) : undefined,
    });
    started.push(position);
    const page = async () => await (await fetch(dashboardUrl)).text();

    await t.step("a simulated transaction reaches the dashboard", async () => {
      const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
      await control.createTransaction({ amount: "-4.20", description: "Aarch64 Espresso" });
      await waitFor(
        async () => (await page()).includes("Aarch64 Espresso"),
        "the dashboard",
        120_000,
      );
    });

    await t.step("serve, enrich and consume stop on SIGTERM with exit 0", async () => {
      const stops = await Promise.all(started.splice(0).map((command) => command.stop("SIGTERM")));
      assert.deepEqual(stops.map((stop) => stop.code), [0, 0, 0]);
    });

    await t.step("the event is in the store, and marked published when Kafka is set", () => {
      const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
      try {
        const rows = db.prepare("SELECT type FROM events ORDER BY seq").all();
        assert.deepEqual(rows.map((row) => row.type), ["TRANSACTION_CREATED"]);
        if (brokers !== undefined) assert.deepEqual([...selectPublishState(db).values()], [true]);
      } finally {
        db.close();
      }
    });
  } finally {
    await Promise.all(started.map((command) => command.stop("SIGKILL")));
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
}

arm64Test(
  "on ARM64 without Kafka, serve, enrich and consume position carry a transaction to the dashboard",
  async (t) => await pipelineOnArm64(t),
);

arm64Test(
  "on ARM64 with Kafka, serve, enrich and consume position carry a transaction to the dashboard",
  async (t) => await pipelineOnArm64(t, await testBrokers()),
);

arm64Test(
  "on ARM64 the one-process unit (upbus run: enrich, position, notify) carries a purchase to the dashboard and ntfy",
  async () => {
    const stateDir = await serviceDataDir();
    const sim = serveUpSimulator({ port: 0, seedTransactions: 0, retryDelaysMs: [1000, 3000] });
    const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus run on arm64");
    const targets = serveLocalTargets({
      webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      telegramToken: "1:unused",
      discord: { id: "1", token: "unused" },
    });
    await Deno.writeTextFile(`${stateDir}/notify.yaml`, ntfyRules(targets.url));
    let unit;
    try {
      unit = await startRunUnit({
        deno: {
          command: "qemu-aarch64",
          prefix: [ARM64_DENO],
          env: { QEMU_LD_PREFIX, DENO_DIR: ARM64_DENO_DIR },
          timeoutMs: EMULATED_TIMEOUT_MS,
        },
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
          NOTIFY_NTFY_TOKEN: "tk_arm64token000001",
        },
      });
      webhook.url = unit.webhookUrl;
      const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
      await control.createTransaction({ amount: "-3.90", description: "Aarch64 Croissant" });
      await waitFor(
        async () => (await (await fetch(unit!.dashboardUrl!)).text()).includes("Aarch64 Croissant"),
        "the dashboard",
        120_000,
      );
      await waitFor(() => targets.received.some((r) => r.kind === "ntfy"), "ntfy", 120_000);
      assert.deepEqual(
        targets.received.filter((r) => r.kind === "ntfy").map((r) => r.body.message),
        ["Aarch64 Croissant $3.90"],
      );
      assert.equal((await unit.process.stop("SIGTERM")).code, 0, unit.process.err.join("\n"));
    } finally {
      await unit?.process.stop("SIGKILL");
      await targets.close();
      await sim.shutdown();
      await Deno.remove(stateDir, { recursive: true });
    }
  },
);

arm64Test("on ARM64 ngrok's native add-on loads when FFI is granted", async () => {
  const { code, stdout, stderr } = await new Deno.Command("qemu-aarch64", {
    args: [
      ARM64_DENO,
      "run",
      "--no-prompt",
      "--allow-ffi",
      `--allow-read=${ARM64_DENO_DIR}`,
      "--allow-sys=cpus,networkInterfaces,hostname",
      "tests/support/ngrok_probe.ts",
    ],
    cwd: PROJECT_ROOT,
    clearEnv: true,
    env: { QEMU_LD_PREFIX, DENO_DIR: ARM64_DENO_DIR, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, decoder.decode(stderr));
  assert.deepEqual(JSON.parse(decoder.decode(stdout)), {
    arch: "aarch64",
    addon: "@ngrok/ngrok-linux-arm64-gnu",
    listeners: [],
  });
});

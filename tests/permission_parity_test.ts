/**
 * The compiled binary's permissions, checked here rather than on a Pi: the `upbus` permission set
 * that `deno task compile` bakes in is every subcommand's set together (plus /var/lib/upbus), and
 * every subcommand works under exactly the flags the binary carries (tasks/compile.ts), run from
 * source: up-sim, serve with Kafka, register-webhook, simulate and webhooks, end to end.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { COMMANDS } from "../main.ts";
import { BINARY_PERMISSION_SET, compileArgs } from "../tasks/compile.ts";
import { testBrokers } from "./support/kafka.ts";
import { serviceDataDir } from "./support/service_process.ts";
import {
  PROJECT_ROOT,
  runUpbus,
  sourceProgram,
  startServe,
  startUpSim,
} from "./support/upbus_program.ts";

/** Paths the binary may use beyond its subcommands' sets: the systemd unit's StateDirectory. */
const DEPLOY_PATHS: Record<string, string[]> = {
  read: ["/var/lib/upbus"],
  write: ["/var/lib/upbus"],
};

type PermissionSet = Record<string, boolean | string[]>;

function permissionSets(): Record<string, PermissionSet> {
  return JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).permissions;
}

/** What `set` grants of `kind` that `other` does not: `[]` when `other` covers it. */
function notCoveredBy(set: PermissionSet, other: PermissionSet, kind: string): string[] {
  const mine = set[kind];
  const theirs = other[kind];
  if (mine === undefined || mine === false || theirs === true) return [];
  if (mine === true) return ["(all)"];
  return mine.filter((value) => !(theirs || []).includes(value));
}

Deno.test("the compile task bakes in the binary's permission set and includes the store worker", () => {
  const args = compileArgs();
  assert.ok(args.includes(`-P=${BINARY_PERMISSION_SET}`));
  assert.ok(args.includes("--no-prompt"));
  const included = args.flatMap((arg, i) => args[i - 1] === "--include" ? [arg] : []);
  assert.ok(included.includes("lib/store/store_worker.ts"), "the store's Worker module");
  for (const path of included) Deno.statSync(`${PROJECT_ROOT}${path}`);
  const tasks = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).tasks;
  assert.match(tasks.compile, /tasks\/compile\.ts$/);
  assert.match(tasks["compile:pi"], /tasks\/compile\.ts --target aarch64-unknown-linux-gnu$/);
});

Deno.test("the binary's permission set is every subcommand's set together, and nothing more", () => {
  const sets = permissionSets();
  const binary = sets[BINARY_PERMISSION_SET];
  assert.ok(binary, `deno.json has no "${BINARY_PERMISSION_SET}" permission set`);
  const union: PermissionSet = structuredClone(DEPLOY_PATHS);
  for (const command of COMMANDS) {
    const set = sets[command.name];
    assert.ok(
      set,
      `deno.json has no permission set for "${command.name}": give the command one (its task runs with -P=${command.name}) so the binary's set can be checked against it`,
    );
    for (const kind of Object.keys(set)) {
      const missing = notCoveredBy(set, binary, kind);
      assert.deepEqual(
        missing,
        [],
        `the "${command.name}" set grants ${kind} ${
          missing.join(", ")
        }, which the binary's "${BINARY_PERMISSION_SET}" set lacks: add it there too`,
      );
      const value = set[kind];
      union[kind] = value === true || union[kind] === true
        ? true
        : [...new Set([...(union[kind] as string[] | undefined ?? []), ...(value || [])])];
    }
  }
  for (const kind of Object.keys(binary)) {
    const extra = notCoveredBy(binary, union, kind);
    assert.deepEqual(
      extra,
      [],
      `the binary's set grants ${kind} ${
        extra.join(", ")
      }, which no subcommand's set does: remove it, or add it to the subcommand that needs it`,
    );
  }
});

const TOKEN = "up:sim:permission-parity";

Deno.test("every subcommand works under exactly the binary's permissions", async (t) => {
  const program = sourceProgram();
  const brokers = await testBrokers();
  const dataDir = await serviceDataDir();
  const topic = `upbus-parity-${crypto.randomUUID()}`;
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

    await t.step(
      "serve: stops on SIGTERM with exit 0, both events stored and published",
      async () => {
        const { code } = await serve.stop("SIGTERM");
        assert.equal(code, 0, serve.err.join("\n"));
        const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
        try {
          const rows = db.prepare("SELECT type, published_at FROM events ORDER BY seq").all();
          assert.deepEqual(rows.map((row) => row.type), ["PING", "TRANSACTION_CREATED"]);
          assert.ok(rows.every((row) => row.published_at !== null), JSON.stringify(rows));
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
});

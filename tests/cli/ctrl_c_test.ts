/**
 * Ctrl-C in a real terminal: each long-running command, run as a person runs it (`deno task
 * <command>` in a tmux pane, whose terminal signals the whole foreground process group: `deno
 * task` and the command under it, which `deno task` signals again), stops in order every time:
 * it says it shuts down (or stops) and exits 0. Before `stopRequested`, the echo of the SIGINT
 * that `deno task` forwards ended about half the stops at once, with status 130.
 *
 * Permissions: as the test task (`--allow-run=tmux,deno`, `--allow-net=127.0.0.1`).
 */
import assert from "node:assert/strict";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { PROJECT_ROOT } from "../support/upbus_program.ts";

const TRIES = 5;
const SOCKET = `upbus-ctrl-c-${crypto.randomUUID().slice(0, 8)}`;

async function tmux(...args: string[]): Promise<{ code: number; text: string }> {
  const output = await new Deno.Command("tmux", {
    args: ["-L", SOCKET, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, text: decoder.decode(output.stdout) + decoder.decode(output.stderr) };
}

async function readOr(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

async function until(
  what: string,
  test: () => Promise<boolean>,
  ms: number,
  detail: () => Promise<string>,
) {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms:\n${await detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

interface Case {
  /** `deno task` arguments. */
  task: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** A line of its output (stdout or stderr) that says it runs. */
  ready: RegExp;
  /** The line of its orderly stop. */
  stopped: RegExp;
}

/**
 * Runs `deno task ...` in a tmux pane until it is ready, presses Ctrl-C, and returns its exit
 * status (written by the pane's shell) and its output.
 */
async function pressCtrlC(
  name: string,
  dataDir: string,
  testCase: Case,
): Promise<{ status: string; output: string }> {
  const out = `${dataDir}/${name}.out`;
  const err = `${dataDir}/${name}.err`;
  const rc = `${dataDir}/${name}.rc`;
  const env = { DATA_DIR: dataDir, NO_COLOR: "1", ...testCase.env };
  const assignments = Object.entries(env).map(([key, value]) => `${key}=${quote(value)}`);
  const line = `cd ${quote(PROJECT_ROOT)} && env ${assignments.join(" ")} deno task ${
    testCase.task.join(" ")
  } >${quote(out)} 2>${quote(err)}; echo $? >${quote(rc)}`;
  const started = await tmux("new-session", "-d", "-s", name, "-x", "200", "-y", "50", line);
  assert.equal(started.code, 0, started.text);
  const output = async () => `${await readOr(out)}${await readOr(err)}`;
  try {
    await until(
      `${testCase.task.join(" ")} was not ready`,
      async () => testCase.ready.test(await output()),
      90_000,
      output,
    );
    const pressed = await tmux("send-keys", "-t", name, "C-c");
    assert.equal(pressed.code, 0, pressed.text);
    await until(
      `${testCase.task.join(" ")} did not exit after Ctrl-C`,
      async () => (await readOr(rc)).trim() !== "",
      30_000,
      output,
    );
    return { status: (await readOr(rc)).trim(), output: await output() };
  } finally {
    await tmux("kill-session", "-t", name);
  }
}

Deno.test("Ctrl-C in a terminal stops each long-running command in order, with status 0, every time", async (t) => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 1 });
  const dataDir = await serviceDataDir();
  const up = { UP_API_BASE: sim.baseUrl, UP_API_TOKEN: sim.token };
  await Deno.writeTextFile(
    `${dataDir}/notify.yaml`,
    `targets:\n  phone:\n    type: ntfy\n    url: http://127.0.0.1:9\n    topic: never-sent\nrules:\n  - name: all\n    notify:\n      - target: phone\n        message: "{{description}}"\n`,
  );
  const shuttingDown = /"msg":"shutting down"/;
  const cases: Record<string, Case> = {
    serve: {
      task: ["start"],
      env: { PORT: "0", HOST: "127.0.0.1", OPS_PORT: "0", LOG_FORMAT: "json" },
      ready: /"msg":"listening"/,
      stopped: /"msg":"stopped"/,
    },
    enrich: {
      task: ["enrich"],
      env: { ...up, LOG_FORMAT: "json" },
      ready: /"msg":"enricher running"/,
      stopped: shuttingDown,
    },
    "consume-console": {
      task: ["consume", "console"],
      env: { ...up, LOG_FORMAT: "json" },
      ready: /"msg":"waiting for new transactions/,
      stopped: shuttingDown,
    },
    "consume-position": {
      task: ["consume", "position"],
      env: { ...up, LOG_FORMAT: "json", DASHBOARD_PORT: "0" },
      ready: /"msg":"consumer running"/,
      stopped: shuttingDown,
    },
    "consume-ledger": {
      task: ["consume", "ledger"],
      env: { ...up, LOG_FORMAT: "json" },
      ready: /"msg":"consumer running"/,
      stopped: shuttingDown,
    },
    "consume-notify": {
      task: ["consume", "notify"],
      env: { ...up, LOG_FORMAT: "json", NOTIFY_RULES: `${dataDir}/notify.yaml` },
      ready: /"msg":"consumer running"/,
      stopped: shuttingDown,
    },
    "up-sim": {
      task: ["up-sim", "--port", "0"],
      ready: /Up simulator listening on/,
      stopped: /Stopping the simulator \(SIGINT\)/,
    },
    demo: {
      task: ["demo", "--port", "0", "--dashboard-port", "0", "--sim-port", "0"],
      ready: /Ctrl-C stops the demo\./,
      stopped: /Stopping the demo \(SIGINT\)/,
    },
  };
  try {
    for (const [name, testCase] of Object.entries(cases)) {
      await t.step(`deno task ${testCase.task.join(" ")}`, async () => {
        for (let attempt = 1; attempt <= TRIES; attempt++) {
          const run = await pressCtrlC(`${name}-${attempt}`, dataDir, testCase);
          const where = `${name}, try ${attempt}:\n${run.output}`;
          assert.match(run.output, testCase.stopped, where);
          assert.equal(run.status, "0", where);
          assert.doesNotMatch(run.output, /stopping at once/, where);
        }
      });
    }
  } finally {
    await tmux("kill-server");
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

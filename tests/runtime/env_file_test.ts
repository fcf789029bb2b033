/**
 * `.env` for every command: the real CLI in its own process, in a directory of its own with or
 * without a `.env`, against the Up simulator; the file is read, the real environment wins, and
 * an absent file is not mentioned. Every command's permission set may read `./.env`.
 *
 * Permissions: as the test task (`--allow-run=deno`, loopback, the env of a `deno` child).
 */
import assert from "node:assert/strict";
import { loadEnvFile } from "../../lib/runtime/env_file.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { childEnv, PROJECT_ROOT } from "../support/upbus_program.ts";

/** `upbus webhooks list` run from `cwd`, with the `webhooks` set's grants but for `cwd/.env`. */
async function webhooksList(cwd: string, env: Record<string, string> = {}) {
  const output = await new Deno.Command("deno", {
    args: [
      "run",
      `--config=${PROJECT_ROOT}deno.json`,
      "--no-prompt",
      "--allow-net=127.0.0.1",
      `--allow-read=${cwd}/.env,${cwd}/data`,
      `--allow-write=${cwd}/data`,
      "--allow-env=UP_API_BASE,UP_API_TOKEN,DATA_DIR,NODE_ENV",
      `${PROJECT_ROOT}main.ts`,
      "webhooks",
      "list",
    ],
    cwd,
    clearEnv: true,
    env: { ...childEnv(), ...env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("every command reads .env, the real environment wins, and no .env is no message", async (t) => {
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  sim.bank.addWebhook("http://127.0.0.1:1/webhook", "from .env");
  const cwd = await Deno.makeTempDir();
  try {
    await t.step("without a .env, the command says only what it lacks", async () => {
      const run = await webhooksList(cwd);
      assert.equal(run.code, 1);
      assert.doesNotMatch(run.stderr, /\.env|not found|Warning/);
      assert.match(run.stderr, /UP_API_TOKEN is not set/);
    });
    await Deno.writeTextFile(
      `${cwd}/.env`,
      `# the simulator\nUP_API_BASE=${sim.baseUrl}\nexport UP_API_TOKEN="${sim.token}"\nUNUSED=1\n`,
      { mode: 0o600 },
    );
    await t.step("with a .env, the command uses its variables", async () => {
      const run = await webhooksList(cwd);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /http:\/\/127\.0\.0\.1:1\/webhook/);
    });
    await t.step("a .env others may read is used, with a warning that says chmod 600", async () => {
      const quiet = await webhooksList(cwd);
      assert.doesNotMatch(quiet.stderr, /readable by other users/, "mode 600: no warning");
      await Deno.chmod(`${cwd}/.env`, 0o644);
      const run = await webhooksList(cwd);
      await Deno.chmod(`${cwd}/.env`, 0o600);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stderr,
        /^upbus: warning: \.env is readable by other users \(mode 644\) and may hold UP_API_TOKEN; run: chmod 600 \.env$/m,
      );
    });
    await t.step("a variable of the real environment wins over the file", async () => {
      const run = await webhooksList(cwd, { UP_API_TOKEN: "up:sim:wrong" });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /the token was rejected \(HTTP 401\), check UP_API_TOKEN/);
    });
  } finally {
    await sim.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("loadEnvFile() skips variables the command may not read, and a missing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/.env`, "A=1\nB='two words'\nC=3\n");
    const env: Record<string, string> = { C: "real" };
    const set = loadEnvFile({
      warn: () => {},
      path: `${dir}/.env`,
      get: (name) => env[name],
      set: (name, value) => env[name] = value,
      allowed: (kind, name) => kind === "read" || name !== "A",
    });
    assert.deepEqual(set, ["B"]);
    assert.deepEqual(env, { B: "two words", C: "real" });
    assert.deepEqual(loadEnvFile({ path: `${dir}/missing.env`, allowed: () => true }), []);
    assert.deepEqual(
      loadEnvFile({ path: `${dir}/.env`, allowed: (kind) => kind !== "read" }),
      [],
      "a file the command may not read is skipped",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every task's permission set may read ./.env", () => {
  const sets = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).permissions;
  type Read = string[] | { allow: true | string[]; deny?: string[] } | undefined;
  for (const [name, set] of Object.entries(sets) as Array<[string, { read?: Read }]>) {
    const read = set.read;
    const allowed = Array.isArray(read)
      ? read.includes("./.env")
      : read?.allow === true || (Array.isArray(read?.allow) && read.allow.includes("./.env"));
    assert.ok(allowed, `the "${name}" set cannot read ./.env`);
  }
});

/**
 * The compiled binary, for this machine, built with the compile task's own arguments
 * (tasks/compile.ts) and smoke-tested: `--help`, `serve` with `/healthz` and a signed event stored,
 * then every subcommand as in the permission-parity test.
 *
 * `deno compile` needs denort, Deno's runtime without its tooling, of the same version: from
 * `DENORT_BIN`, from DENO_DIR's download cache, or downloaded from dl.deno.land. No package
 * registry ships denort, so on a machine without that network and without `DENORT_BIN` the
 * smoke test is skipped, and says so: a tiny probe is compiled first, and its error is the reason.
 *
 * Permissions: `--allow-run=deno,./dist/compile-test/upbus` (plus those of the parity test).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SIGNATURE_HEADER, signBody } from "../../lib/webhook/signature.ts";
import { compileArgs } from "../../tasks/compile.ts";
import { eventBody } from "../support/app.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { exerciseSubcommands } from "../support/subcommands.ts";
import { binaryProgram, PROJECT_ROOT, runUpbus, startServe } from "../support/upbus_program.ts";

/** Where the test's binary goes (git ignores dist/); fixed, so that --allow-run can name it. */
const OUTPUT = "dist/compile-test/upbus";
const BINARY = `${PROJECT_ROOT}${OUTPUT}`;

function denortBin(): string {
  const { state } = Deno.permissions.querySync({ name: "env", variable: "DENORT_BIN" });
  return state === "granted" ? Deno.env.get("DENORT_BIN") ?? "unset" : "not readable";
}

/** Why the binary cannot be built and run here, or `undefined` when it can. */
async function cannotCompile(): Promise<string | undefined> {
  for (const command of ["deno", `./${OUTPUT}`]) {
    if ((await Deno.permissions.query({ name: "run", command })).state !== "granted") {
      return `the tests run without --allow-run=deno,./${OUTPUT}`;
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "upbus-denort-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, "console.log('probe');\n");
    const { success, stderr } = await new Deno.Command("deno", {
      args: ["compile", "--no-check", "--no-config", "--output", `${dir}/probe`, `${dir}/probe.ts`],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (success) return undefined;
    const lines = new TextDecoder().decode(stderr).split("\n").map((line) => line.trim());
    const cause = lines.find((line) => /error sending request|DENORT_BIN/i.test(line)) ??
      lines.find((line) => /error/i.test(line)) ?? lines.filter((line) => line !== "").at(-1);
    return `deno compile cannot get denort ${Deno.version.deno} for ${Deno.build.target}, the runtime it builds on (none in DENO_DIR's cache, DENORT_BIN ${denortBin()}, no package registry ships it): ${cause}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const reason = await cannotCompile();
if (reason !== undefined) console.log(`compile_test: skipping: ${reason}`);

Deno.test({
  name:
    "the compiled binary answers --help, serves, stores a signed event, and runs every subcommand",
  ignore: reason !== undefined,
  async fn(t) {
    await t.step("deno compile with the compile task's arguments", async () => {
      const { code, stderr } = await new Deno.Command("deno", {
        args: compileArgs({ output: OUTPUT }),
        cwd: PROJECT_ROOT,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const { size } = await Deno.stat(BINARY);
      console.log(`  ${OUTPUT}: ${(size / 1024 / 1024).toFixed(1)} MiB for ${Deno.build.target}`);
    });
    const program = binaryProgram(BINARY);

    await t.step("--help lists the commands", async () => {
      const run = await runUpbus(program, ["--help"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Usage: upbus/m);
      assert.match(run.stdout, /^ {2}serve /m);
    });

    await t.step("serve: /healthz, a signed event stored, exit 0 on SIGTERM", async () => {
      const secret = "compile-test-secret";
      const dataDir = await serviceDataDir();
      const [serve, url] = await startServe(program, {
        DATA_DIR: dataDir,
        UP_WEBHOOK_SECRETS: secret,
      });
      try {
        const health = await fetch(`${url}/healthz`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
        const id = crypto.randomUUID();
        const body = eventBody({ id, type: "TRANSACTION_CREATED", transactionId: id });
        const response = await fetch(`${url}/webhook`, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            [SIGNATURE_HEADER]: await signBody(body, secret),
          },
          body,
        });
        assert.equal(response.status, 200);
        assert.equal((await response.json()).status, "stored");
        const { code } = await serve.stop("SIGTERM");
        assert.equal(code, 0, serve.err.join("\n"));
        const db = new DatabaseSync(`${dataDir}/events.db`, { readOnly: true });
        try {
          const row = db.prepare("SELECT event_id FROM events WHERE event_id = ?").get(id);
          assert.equal(row?.event_id, id);
        } finally {
          db.close();
        }
      } finally {
        await serve.stop("SIGKILL");
        await Deno.remove(dataDir, { recursive: true });
      }
    });

    await t.step("every subcommand", async (t) => {
      await exerciseSubcommands(t, program);
    });
  },
});

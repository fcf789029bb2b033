/**
 * `deno task dev` as a developer runs it: it serves, and SIGTERM (what `deno task` forwards from
 * a process manager, or Ctrl-C's SIGINT) stops the service and the watcher: the task exits and
 * the port is free again.
 *
 * Permissions: as the test task (`--allow-run=deno`, loopback, the env of a `deno` child).
 */
import assert from "node:assert/strict";
import { serviceDataDir } from "../support/service_process.ts";
import { PROJECT_ROOT, runUpbus, startUpbus } from "../support/upbus_program.ts";

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`deno task dev exits on ${signal}, and the service with it`, async () => {
    const dataDir = await serviceDataDir();
    try {
      const [dev, url] = await startUpbus({ command: "deno", prefix: ["task", "dev"] }, [], {
        env: { HOST: "127.0.0.1", PORT: "0", DATA_DIR: dataDir, LOG_FORMAT: "json" },
        ready: (_line, log) =>
          log?.msg === "listening" ? String(log.url).replace(/\/webhook$/, "") : undefined,
      });
      const healthy = await fetch(`${url}/healthz`);
      await healthy.body?.cancel();
      assert.equal(healthy.status, 200);
      const { code, ms } = await dev.stop(signal);
      assert.equal(code, 0, dev.err.join("\n"));
      assert.ok(ms < 10_000, `took ${ms} ms`);
      assert.ok(dev.logs.some((log) => log.msg === "stopped"), "the service shut down in order");
      await assert.rejects(fetch(`${url}/healthz`), "nothing listens on the port any more");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

Deno.test("the dev task watches main.ts and lib/ with narrow permissions", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).tasks;
  assert.equal(tasks.dev, "deno run --allow-run=deno --allow-read=main.ts,lib tasks/dev.ts");
});

Deno.test("deno task dev --help prints help and starts nothing", async () => {
  const run = await runUpbus({ command: "deno", prefix: ["task", "dev"] }, ["--help"], {
    env: { PORT: "0" },
    timeoutMs: 30_000,
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Usage: deno task dev$/m);
  assert.match(run.stdout, /^Usage: upbus serve$/m, "the service's settings follow");
  assert.doesNotMatch(run.stderr, /listening/);
});

Deno.test("deno task dev with its port taken says why and exits non-zero", async () => {
  const dataDir = await serviceDataDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const run = await runUpbus({ command: "deno", prefix: ["task", "dev"] }, [], {
      env: {
        HOST: "127.0.0.1",
        PORT: String((taken.addr as Deno.NetAddr).port),
        DATA_DIR: dataDir,
      },
      timeoutMs: 30_000,
    });
    assert.notEqual(run.code, 0, run.stderr);
    assert.notEqual(run.code, 137, `it hung until killed: ${run.stderr}`);
    assert.match(run.stderr, /PORT/, "the cause names the setting");
    assert.match(run.stderr, /before any file changed; stopping/);
  } finally {
    taken.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

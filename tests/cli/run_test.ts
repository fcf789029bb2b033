/**
 * `upbus run`'s bad input, as a user meets it through `deno task run`'s permission set: an unknown
 * stage (flag or UPBUS_STAGES) is refused with the usage and exit 2 before anything starts; a stage
 * that cannot start (notify without its rules file) stops the whole process with exit 1 and a
 * line naming the stage and the setting, and leaves the port free.
 */
import assert from "node:assert/strict";
import { chooseStages } from "../../lib/cli/run.ts";
import { runUpbus, type UpbusProgram } from "../support/upbus_program.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";

const RUN_TASK: UpbusProgram = {
  command: "deno",
  prefix: ["run", "-q", "-P=run", "--no-prompt", "main.ts"],
};

Deno.test("chooseStages: the flag, else UPBUS_STAGES, else enrich and position; unknown names refused", () => {
  assert.deepEqual(chooseStages(undefined, undefined), ["enrich", "position"]);
  assert.deepEqual(chooseStages(undefined, " "), ["enrich", "position"]);
  assert.deepEqual(chooseStages("notify,enrich", "position"), ["enrich", "notify"]);
  assert.throws(
    () => chooseStages(undefined, "enrich,console"),
    /UPBUS_STAGES: unknown stage "console"/,
  );
  assert.throws(
    () => chooseStages("postion", undefined),
    /--stages: unknown stage "postion", expected some of enrich, position/,
  );
  assert.throws(() => chooseStages(",", undefined), /--stages: no stage named/);
});

Deno.test("upbus run refuses an unknown stage with its usage, exit 2, and writes nothing", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-run-bad-" });
  try {
    for (
      const [args, env, message] of [
        [["run", "--stages", "enrich,dashboard"], {}, /--stages: unknown stage "dashboard"/],
        [["run"], { UPBUS_STAGES: "notify,ledgr" }, /UPBUS_STAGES: unknown stage "ledgr"/],
        [
          ["run"],
          { UPBUS_TEST_FAULT: "notify" },
          /UPBUS_TEST_FAULT: expected <stage>\[:N\] naming a consumer stage of this run/,
        ],
      ] as const
    ) {
      const { code, stderr } = await runUpbus(RUN_TASK, [...args], {
        env: { DATA_DIR: dataDir, PORT: "0", ...env },
      });
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.match(stderr, /Usage: upbus run/);
    }
    assert.deepEqual([...Deno.readDirSync(dataDir)], [], "nothing written");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("upbus run stops with exit 1 when a stage cannot start, naming the stage and the setting", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-run-nostart-" });
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  try {
    const { code, stderr } = await runUpbus(RUN_TASK, ["run", "--stages", "enrich,notify"], {
      env: {
        DATA_DIR: dataDir,
        HOST: "127.0.0.1",
        PORT: String(port),
        UP_API_BASE: sim.baseUrl,
        UP_API_TOKEN: sim.token,
        NOTIFY_RULES: `${dataDir}/missing.yaml`,
        LOG_LEVEL: "error",
      },
    });
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^upbus run: Cannot start the notify stage: .*missing\.yaml/m);
    assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
    assert.doesNotMatch(stderr, /starting it again/, "it stops, and says so once");
    // Everything stopped: the service's port is free again.
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
  } finally {
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

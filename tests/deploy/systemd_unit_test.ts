/**
 * deploy/upbus.service and deploy/upbus.env.example: the unit says what the issue asks, agrees
 * with the binary's baked-in permissions, and passes `systemd-analyze verify` (and scores well on
 * `systemd-analyze security`) where that tool runs; elsewhere those two steps are skipped, saying
 * why.
 */
import assert from "node:assert/strict";
import { BINARY_PERMISSION_SET } from "../../tasks/compile.ts";
import { PROJECT_ROOT } from "../support/upbus_program.ts";

const UNIT = Deno.readTextFileSync(`${PROJECT_ROOT}deploy/upbus.service`);
/** The one-process unit: `upbus run`, the service and the stages of UPBUS_STAGES. */
const RUN_UNIT = Deno.readTextFileSync(`${PROJECT_ROOT}deploy/upbus-run.service`);
const ENV_EXAMPLE = Deno.readTextFileSync(`${PROJECT_ROOT}deploy/upbus.env.example`);
const DATA_DIR = "/var/lib/upbus";
/** Most exposure `systemd-analyze security` may report (0 best, 10 worst; "OK" is below 3). */
const MAX_EXPOSURE = 2.0;

/** Each `Key=value` line of the unit, values of repeated keys in order. */
function directives(unit: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    const match = line.match(/^([A-Za-z]+)=(.*)$/);
    if (match) map.set(match[1], [...map.get(match[1]) ?? [], match[2]]);
  }
  return map;
}

/** Why `systemd-analyze` cannot run here, or `undefined` when it can. */
async function systemdAnalyzeMissing(): Promise<string | undefined> {
  try {
    const { success } = await new Deno.Command("systemd-analyze", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? undefined : "systemd-analyze --version failed";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "systemd-analyze is not installed (Debian: apt-get install systemd)";
    }
    if (error instanceof Deno.errors.NotCapable) {
      return "the tests run without --allow-run=systemd-analyze";
    }
    throw error;
  }
}

const missing = await systemdAnalyzeMissing();
if (missing !== undefined) {
  console.log(`systemd_unit_test: skipping systemd-analyze verify and security: ${missing}`);
}

/**
 * The unit, copied to a temporary directory with ExecStart pointing at a stub there: `verify`
 * checks that the binary exists, and /usr/local/bin/upbus is not installed on a build machine.
 */
async function unitWithStub(
  unit: string,
  name = "upbus.service",
): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "upbus-unit-" });
  await Deno.writeTextFile(`${dir}/upbus`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const copy = unit.replace(/^ExecStart=\/usr\/local\/bin\/upbus /m, `ExecStart=${dir}/upbus `);
  assert.notEqual(copy, unit, "ExecStart=/usr/local/bin/upbus ... is in the unit");
  await Deno.writeTextFile(`${dir}/${name}`, copy);
  return { dir, path: `${dir}/${name}` };
}

async function analyze(args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command("systemd-analyze", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, output: (decoder.decode(stdout) + decoder.decode(stderr)).trim() };
}

Deno.test("deploy/upbus.service has the user, state, secrets, restart and hardening asked for", () => {
  const unit = directives(UNIT);
  const one = (key: string) => unit.get(key)?.join(" ");
  assert.equal(one("ExecStart"), "/usr/local/bin/upbus serve");
  assert.ok(one("User") === "upbus" || one("DynamicUser") === "yes", "a dedicated user");
  assert.equal(one("StateDirectory"), "upbus");
  assert.ok(unit.get("Environment")?.includes(`DATA_DIR=${DATA_DIR}`), "DATA_DIR");
  assert.equal(one("EnvironmentFile"), "/etc/upbus/upbus.env");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("KillSignal"), "SIGTERM");
  for (
    const [key, value] of [
      ["NoNewPrivileges", "yes"],
      ["ProtectSystem", "strict"],
      ["ProtectHome", "yes"],
      ["PrivateTmp", "yes"],
      ["RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"],
    ]
  ) {
    assert.equal(one(key), value, key);
  }
  assert.equal(unit.has("MemoryDenyWriteExecute"), false, "V8's JIT needs W+X memory");
});

/** A systemd size (`400M`, `1G`, a number of bytes) in MiB. */
function mebibytes(value: string): number {
  const match = value.match(/^(\d+)([KMG]?)$/);
  assert.ok(match, `a size: ${value}`);
  const scale = { "": 1 / 1024 / 1024, K: 1 / 1024, M: 1, G: 1024 }[match[2]]!;
  return Number(match[1]) * scale;
}

Deno.test("deploy/upbus.service caps files, threads and memory above the measured peaks and within a 1 GB Pi", () => {
  const unit = directives(UNIT);
  const number = (key: string) => {
    const values = unit.get(key);
    assert.equal(values?.length, 1, `${key} set once`);
    return values[0];
  };
  const env = new Map(
    ENV_EXAMPLE.split("\n").flatMap((line) => {
      const match = line.match(/^([A-Z_]+)=(.*)$/);
      return match ? [[match[1], match[2]] as const] : [];
    }),
  );
  // Measured by bench/edge_abuse.ts with the env example's limits (docs/edge.md).
  const measured = { files: 325, threads: 37, residentMiB: 248 };
  const files = Number(number("LimitNOFILE"));
  const maxConnections = Number(env.get("MAX_CONNECTIONS"));
  assert.ok(files >= 2 * measured.files, `LimitNOFILE ${files} leaves room over ${measured.files}`);
  assert.ok(maxConnections * 2 <= files, "MAX_CONNECTIONS at most half of LimitNOFILE");
  assert.ok(Number(number("TasksMax")) >= 4 * measured.threads, "TasksMax over the peak");
  const high = mebibytes(number("MemoryHigh"));
  const max = mebibytes(number("MemoryMax"));
  assert.ok(high > measured.residentMiB && high < max, `MemoryHigh ${high} MiB`);
  assert.ok(max <= 512, `MemoryMax ${max} MiB leaves half of a 1 GB Pi to the rest`);
  assert.ok(
    unit.get("Environment")?.includes("DENO_V8_FLAGS=--max-old-space-size=128"),
    "the heap cap the memory figures were measured with",
  );
});

Deno.test("the unit's data directory is the one the binary's permissions allow", () => {
  const set = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`))
    .permissions[BINARY_PERMISSION_SET];
  // A grant is a list, `true`, or `{ allow, deny }`; a denied parent directory wins.
  const grants = (grant: boolean | string[] | { allow: boolean | string[]; deny?: string[] }) => {
    const { allow, deny = [] } = typeof grant === "object" && !Array.isArray(grant)
      ? grant
      : { allow: grant };
    const allowed = allow === true || (Array.isArray(allow) && allow.includes(DATA_DIR));
    return allowed && !deny.some((path) => DATA_DIR === path || DATA_DIR.startsWith(`${path}/`));
  };
  assert.ok(grants(set.read) && grants(set.write), JSON.stringify(set));
});

Deno.test("deploy/upbus.env.example sets only variables the binary may read, and not DATA_DIR", () => {
  const allowed: string[] = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`))
    .permissions[BINARY_PERMISSION_SET].env;
  const names = ENV_EXAMPLE.split("\n").flatMap((line) => line.match(/^([A-Z_]+)=/)?.[1] ?? []);
  assert.ok(names.includes("UP_WEBHOOK_SECRETS") && names.includes("KAFKA_BROKERS"));
  assert.deepEqual(names.filter((name) => !allowed.includes(name)), []);
  assert.equal(names.includes("DATA_DIR"), false, "the unit sets DATA_DIR");
});

Deno.test({
  name: "systemd-analyze verify accepts the unit and catches a broken copy",
  ignore: missing !== undefined,
  async fn() {
    const good = await unitWithStub(UNIT);
    const bad = await unitWithStub(UNIT.replace(/^ProtectHome=yes$/m, "ProtectHome=maybe"));
    try {
      const verified = await analyze(["verify", good.path]);
      assert.equal(verified.code, 0, verified.output);
      assert.equal(verified.output, "", "no warnings either");
      // verify exits 0 on a bad value and only warns: the check above must be the output.
      const broken = await analyze(["verify", bad.path]);
      assert.match(broken.output, /protect home value/i);
    } finally {
      await Deno.remove(good.dir, { recursive: true });
      await Deno.remove(bad.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: `systemd-analyze security rates the unit's exposure at most ${MAX_EXPOSURE}`,
  ignore: missing !== undefined,
  async fn() {
    const { dir, path } = await unitWithStub(UNIT);
    try {
      const { output } = await analyze(["security", "--offline=yes", "--no-pager", path]);
      const exposure = output.match(/Overall exposure level for upbus\.service: ([\d.]+)/);
      assert.ok(exposure, output);
      console.log(`  exposure ${exposure[1]} (systemd-analyze security --offline=yes)`);
      assert.ok(Number(exposure[1]) <= MAX_EXPOSURE, output);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deploy/upbus-run.service is upbus.service running `upbus run`, in its place", () => {
  const run = directives(RUN_UNIT);
  const serve = directives(UNIT);
  assert.deepEqual(run.get("ExecStart"), ["/usr/local/bin/upbus run"]);
  assert.deepEqual(run.get("Conflicts"), ["upbus.service"], "both listen on PORT");
  const same = (unit: Map<string, string[]>) =>
    [...unit].filter(([key]) => !["ExecStart", "Description", "Conflicts"].includes(key));
  assert.deepEqual(same(run), same(serve), "the same user, state, secrets, limits and hardening");
  assert.ok(
    ENV_EXAMPLE.includes("\nUPBUS_STAGES=enrich,position\n"),
    "the stages, in the env file",
  );
});

Deno.test({
  name: `systemd-analyze accepts deploy/upbus-run.service and rates it at most ${MAX_EXPOSURE}`,
  ignore: missing !== undefined,
  async fn() {
    const { dir, path } = await unitWithStub(RUN_UNIT, "upbus-run.service");
    try {
      const verified = await analyze(["verify", path]);
      assert.equal(verified.code, 0, verified.output);
      assert.equal(verified.output, "", "no warnings either");
      const { output } = await analyze(["security", "--offline=yes", "--no-pager", path]);
      const exposure = output.match(/Overall exposure level for upbus-run\.service: ([\d.]+)/);
      assert.ok(exposure, output);
      assert.ok(Number(exposure[1]) <= MAX_EXPOSURE, output);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

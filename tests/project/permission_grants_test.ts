/**
 * What the permission sets of deno.json let each command touch, asked of the real runtime under
 * each set (`deno run -P=<set>`), and what a user sees when something stays refused: brokers on
 * any host but cloud metadata addresses, DATA_DIR anywhere but system directories.
 */
import assert from "node:assert/strict";
import { childEnv, PROJECT_ROOT, runUpbus, type UpbusProgram } from "../support/upbus_program.ts";

const KAFKA_COMMANDS = ["serve", "enrich", "consume", "backfill", "upbus"];
const DATA_COMMANDS = [...KAFKA_COMMANDS, "register-webhook", "webhooks"];

/** Asks the runtime, under a permission set, for the state of each descriptor. */
async function grants(
  set: string,
  descriptors: Deno.PermissionDescriptor[],
): Promise<Record<string, string>> {
  const { code, stdout, stderr } = await new Deno.Command("deno", {
    args: [
      "run",
      `-P=${set}`,
      "--no-prompt",
      "tests/support/permission_probe.ts",
      JSON.stringify(descriptors),
    ],
    cwd: PROJECT_ROOT,
    clearEnv: true,
    env: childEnv(),
    stdin: "null",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const states = JSON.parse(new TextDecoder().decode(stdout));
  return Object.fromEntries(
    descriptors.map((descriptor) => [
      "host" in descriptor
        ? descriptor.host
        : `${descriptor.name} ${"path" in descriptor ? descriptor.path : ""}`,
      states[JSON.stringify(descriptor)],
    ]),
  );
}

Deno.test("the Kafka commands may connect to any broker host, but not to cloud metadata addresses", async (t) => {
  const hosts = {
    "pkc-12345.ap-southeast-2.aws.confluent.cloud:9092": "granted",
    "b-1.upbus.abc123.c2.kafka.ap-southeast-2.amazonaws.com:9096": "granted",
    "10.0.0.5:9093": "granted",
    "[2001:db8::5]:9092": "granted",
    "169.254.169.254:80": "denied",
    "169.254.170.2:80": "denied",
    "[fd00:ec2::254]:80": "denied",
    "metadata.google.internal:80": "denied",
    "100.100.100.200:80": "denied",
  };
  for (const set of KAFKA_COMMANDS) {
    await t.step(set, async () => {
      const states = await grants(set, Object.keys(hosts).map((host) => ({ name: "net", host })));
      assert.deepEqual(states, hosts);
    });
  }
});

Deno.test("every command that keeps data may use DATA_DIR anywhere but system directories", async (t) => {
  const home = Deno.env.get("HOME") ?? "/home/someone";
  const expected: Array<[Deno.PermissionDescriptor, string]> = [
    [{ name: "write", path: `${home}/upbus-data` }, "granted"],
    [{ name: "write", path: "/srv/upbus" }, "granted"],
    [{ name: "write", path: "/var/lib/upbus" }, "granted"],
    [{ name: "write", path: "/tmp/upbus-anywhere" }, "granted"],
    [{ name: "read", path: "/etc/upbus/kafka-ca.pem" }, "granted"],
    [{ name: "read", path: "/run/credentials/upbus.service/kafka-password" }, "granted"],
    [{ name: "write", path: "/etc/upbus" }, "denied"],
    [{ name: "write", path: "/usr/local/bin/upbus" }, "denied"],
    [{ name: "read", path: "/etc/shadow" }, "denied"],
    [{ name: "read", path: "/root/.ssh/id_ed25519" }, "denied"],
  ];
  for (const set of DATA_COMMANDS) {
    await t.step(set, async () => {
      const states = await grants(set, expected.map(([descriptor]) => descriptor));
      const wanted = Object.fromEntries(
        expected.map(([d, state]) => [`${d.name} ${"path" in d ? d.path : ""}`, state]),
      );
      // register-webhook and webhooks never read TLS files or credentials, but share the grant.
      assert.deepEqual(states, wanted);
    });
  }
});

function task(set: string): UpbusProgram {
  return { command: "deno", prefix: ["run", `-P=${set}`, "--no-prompt", "main.ts"] };
}

Deno.test("a refused DATA_DIR or broker address is one message naming the setting, never a Deno flag", async (t) => {
  await t.step("serve with DATA_DIR under /etc", async () => {
    const run = await runUpbus(task("serve"), ["serve"], {
      env: { DATA_DIR: "/etc/upbus-refused", PORT: "0", HOST: "127.0.0.1" },
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /^upbus serve: Cannot use DATA_DIR "\/etc\/upbus-refused": upbus may not write files there .*set DATA_DIR to a directory you own/m,
    );
    assert.doesNotMatch(run.stderr, /--allow|NotCapable/);
  });

  await t.step("enrich with a broker on a cloud metadata address", async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "upbus-refused-broker-" });
    try {
      // Refused by the runtime before any packet leaves: nothing is sent to that address.
      const run = await runUpbus(task("enrich"), ["enrich"], {
        env: {
          DATA_DIR: dataDir,
          KAFKA_BROKERS: "169.254.169.254:9092",
          UP_API_TOKEN: "up:yeah:x",
        },
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /^upbus enrich: Cannot connect to Kafka at 169\.254\.169\.254:9092: upbus may not connect to 169\.254\.169\.254:9092: cloud metadata addresses .* are refused; check KAFKA_BROKERS/m,
      );
      assert.doesNotMatch(run.stderr, /--allow|NotCapable|EPERM/);
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  });
});

/**
 * A broker that is not on loopback and a host known only from the cluster's metadata: in a
 * network and mount namespace made here (`unshare`, as root), `10.213.7.1` on the namespace's own
 * loopback interface and `kafka.upbus.test` in a bind-mounted `/etc/hosts`, neither visible
 * outside it. The service, under its real `serve` permission set, bootstraps from the address and
 * publishes to the broker by the name the metadata gives (tests/support/broker_by_name_scenario.ts).
 * Skipped, saying why, where the machine does not allow namespaces.
 *
 * Permissions: `--allow-run=unshare`, plus what the scenario runs with.
 */
import assert from "node:assert/strict";
import { TEST_HOST_ADDRESS, TEST_HOST_NAME } from "../../support/secure_broker.ts";
import { childEnv, PROJECT_ROOT } from "../../support/upbus_program.ts";

const NAMESPACE = ["--net", "--mount", "--fork", "--kill-child"];

async function namespacesWork(): Promise<string | undefined> {
  try {
    const { code, stderr } = await new Deno.Command("unshare", {
      args: [...NAMESPACE, "ip", "link", "set", "lo", "up"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    return code === 0 ? undefined : new TextDecoder().decode(stderr).trim();
  } catch (error) {
    return (error as Error).message;
  }
}

const unavailable = await namespacesWork();
if (unavailable) {
  console.warn(`broker_by_name_test skipped: cannot make a namespace (${unavailable})`);
}

Deno.test({
  name:
    "the service reaches a broker by an address that is not loopback and a name only the cluster's metadata gives",
  ignore: unavailable !== undefined,
  async fn() {
    const home = Deno.env.get("HOME")!;
    const hosts = await Deno.makeTempFile({ prefix: "upbus-hosts-" });
    await Deno.writeTextFile(
      hosts,
      `127.0.0.1 localhost\n${TEST_HOST_ADDRESS} ${TEST_HOST_NAME}\n`,
    );
    try {
      // The namespace's set-up, then the scenario with named permissions (its hosts exist only
      // inside this namespace).
      const script = [
        "set -e",
        "ip link set lo up",
        `ip addr add ${TEST_HOST_ADDRESS}/32 dev lo`,
        'mount --bind "$1" /etc/hosts',
        "shift",
        'exec deno run "$@"',
      ].join("\n");
      const { code, stdout, stderr } = await new Deno.Command("unshare", {
        args: [
          ...NAMESPACE,
          "sh",
          "-c",
          script,
          "sh",
          hosts,
          `--allow-run=java,mvn,deno,openssl,kcat`,
          `--allow-net=127.0.0.1,${TEST_HOST_ADDRESS},${TEST_HOST_NAME}`,
          `--allow-read=.,/tmp,${home}/.cache/upbus`,
          `--allow-write=.,/tmp,${home}/.cache/upbus`,
          "--allow-env=HOME,PATH,DENO_DIR,TMPDIR,NODE_ENV,KAFKAJS_LOG_LEVEL,KAFKAJS_NO_PARTITIONER_WARNING,KAFKAJS_DEBUG_PROTOCOL_BUFFERS,KAFKAJS_DEBUG_EXTENDED_PROTOCOL_BUFFERS",
          "tests/support/broker_by_name_scenario.ts",
        ],
        cwd: PROJECT_ROOT,
        clearEnv: true,
        env: childEnv(),
        stdin: "null",
      }).output();
      const out = new TextDecoder().decode(stdout);
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, err);
      const found = JSON.parse(out.trim().split("\n").at(-1)!);
      assert.match(
        found.bootstrap,
        new RegExp(`^${TEST_HOST_ADDRESS.replaceAll(".", "\\.")}:\\d+$`),
      );
      assert.match(found.advertised, new RegExp(`^${TEST_HOST_NAME}:\\d+$`));
      // The client was given the address; the name came from the cluster.
      assert.ok(found.metadata.includes(`at ${found.advertised}`), found.metadata);
      assert.equal(found.status, 200);
      assert.deepEqual(
        found.records,
        [{ payloadMatches: true, ceId: found.eventId }],
        found.lastError,
      );
      assert.equal(found.refusals, 0, "no permission refusal in the service's log");
    } finally {
      await Deno.remove(hosts);
    }
  },
});

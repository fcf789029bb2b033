/**
 * `deno task demo`, as a newcomer runs it: the real command in its own process (through `deno
 * task`, with its permission set), in embedded mode and with Kafka. It must put a simulated
 * transaction on the dashboard, and SIGTERM must stop every piece: the task exits 0 and the
 * simulator's, the service's and the dashboard's ports are free again. With Kafka, the demo's
 * topics are gone afterwards.
 *
 * Permissions: as the test task (`--allow-run=deno`, loopback, the env of a `deno` child).
 */
import assert from "node:assert/strict";
import { CONFIG_VARIABLES } from "../../lib/service/config.ts";
import { PIPELINE_VARIABLES } from "../../lib/service/pipeline_config.ts";
import { testBrokers } from "../support/kafka.ts";
import { quietKafka, waitFor } from "../support/pipeline.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { PROJECT_ROOT, runUpbus, startUpbus } from "../support/upbus_program.ts";

async function refused(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return false;
  } catch {
    return true;
  }
}

/** Splits a printed command line into words: double quotes group, `#` starts a comment. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const match of line.replace(/\s+#.*$/, "").matchAll(/"([^"]*)"|(\S+)/g)) {
    out.push(match[1] ?? match[2]);
  }
  return out;
}

/** Runs the "Try next" commands the demo printed, as a user would in another terminal. */
async function tryNext(out: string, dashboard: string, env: Record<string, string>) {
  const exports: Record<string, string> = { ...env };
  for (const line of out.split("\n").filter((line) => line.startsWith("  export "))) {
    for (const word of words(line).slice(1)) {
      const [name, ...value] = word.split("=");
      exports[name] = value.join("=");
    }
  }
  const commands = out.split("\n").filter((line) => line.startsWith("  deno task "));
  assert.ok(commands.length >= 4, out);
  for (const command of commands) {
    const [, , task, ...args] = words(command);
    if (task === "consume") {
      const [running] = await startUpbus({ command: "deno", prefix: ["task", task] }, args, {
        env: { ...exports, LOG_FORMAT: "json" },
        ready: (_line, log) =>
          String(log?.msg).startsWith("waiting for new transactions") ? true : undefined,
      });
      const { code } = await running.stop("SIGTERM");
      assert.equal(code, 0, `exit ${code}\n${running.err.join("\n")}\n${running.out.join("\n")}`);
      assert.ok(running.out.some((line) => line.includes("Campos Coffee")), running.out.join("\n"));
      continue;
    }
    const run = await runUpbus({ command: "deno", prefix: ["task", task] }, args, {
      env: exports,
    });
    assert.equal(run.code, 0, `${command}\n${run.stdout}${run.stderr}`);
  }
  await waitFor(
    async () =>
      (await (await fetch(new URL("position.json", dashboard))).text()).includes("Bakery"),
    "the transaction made from another terminal on the dashboard",
    20_000,
  );
}

async function runDemo(env: Record<string, string>) {
  const dataDir = await serviceDataDir();
  try {
    const [demo, dashboard] = await startUpbus(
      { command: "deno", prefix: ["task", "demo"] },
      ["--port", "0", "--dashboard-port", "0", "--sim-port", "0"],
      {
        env: { DATA_DIR: dataDir, ...env },
        ready: (line) => line.match(/^Dashboard: (\S+)$/)?.[1],
        timeoutMs: 120_000,
      },
    );
    const output = () => demo.out.join("\n");
    const sim = output().match(/^Up simulator on (http:\S+)$/m)?.[1];
    const service = output().match(/^upbus serve on (http:\S+)\/webhook /m)?.[1];
    assert.ok(sim && service, output());
    try {
      assert.match(
        output(),
        /^First transaction on the dashboard \d+\.\d s after the demo started\.$/m,
      );
      const position = await (await fetch(new URL("position.json", dashboard))).text();
      assert.match(position, /Campos Coffee/);
      const page = await (await fetch(dashboard)).text();
      assert.match(page, /Campos Coffee/);
      assert.match(output(), /^ {2}Backfilled 2 accounts: [1-9]\d* transaction records published/m);
      await waitFor(
        async () => {
          const snapshot = await (await fetch(new URL("position.json", dashboard))).json();
          const categories = snapshot.spendCategories.map((item: { name: string }) => item.name);
          const days = snapshot.spendDays.filter((day: { cents: number }) => day.cents > 0);
          // Rent and the power bill come only with the month `up-sim --month` makes.
          return categories.includes("Rent & Mortgage") && categories.includes("Utilities") &&
            days.length >= 15;
        },
        "the month up-sim --month makes (pay, rent, bills) on the dashboard's charts",
        20_000,
      );
      assert.match(output(), /^ {2}deno task simulate transaction-created/m);
      await tryNext(output(), dashboard, { DATA_DIR: dataDir, ...env });
    } finally {
      const { code } = await demo.stop("SIGTERM");
      assert.equal(code, 0, `${output()}\n${demo.err.join("\n")}`);
    }
    assert.match(output(), /^Stopping the demo \(SIGTERM\)$/m);
    for (const url of [`${sim}/util/ping`, `${service}/healthz`, dashboard]) {
      assert.ok(await refused(url), `${url} still answers after the demo stopped`);
    }
    return { out: output(), err: demo.err.join("\n") };
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("deno task demo shows a simulated transaction on the dashboard and SIGTERM stops every piece", async () => {
  const { out, err } = await runDemo({});
  assert.match(out, /\(embedded mode\)/);
  assert.doesNotMatch(err, /\n\s+at |TimeoutNegativeWarning/);
  assert.doesNotMatch(err, /experimental feature/, "-q keeps Deno's notice about -P quiet");
});

Deno.test("with KAFKA_BROKERS, the demo runs through Kafka on topics of its own, deleted at the end", async () => {
  const brokers = await testBrokers();
  const { out, err } = await runDemo({ KAFKA_BROKERS: brokers });
  assert.match(out, new RegExp(`\\(Kafka ${brokers.replace(/\./g, "\\.")}\\)`));
  const topic = out.match(/KAFKA_TOPIC=(upbus-demo-\d+\.webhook-events)/)?.[1];
  assert.ok(topic, out);
  assert.doesNotMatch(err, /\n\s+at |TimeoutNegativeWarning/);
  const admin = quietKafka(brokers).admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    assert.deepEqual(topics.filter((name) => name.startsWith(topic.split(".")[0])), []);
    // Its consumer groups were its own (never the user's `upbus-enricher`), and are gone too.
    const { groups } = await admin.listGroups();
    const own = groups.map((group) => group.groupId).filter((id) =>
      id.startsWith(`${topic.split(".")[0]}-`)
    );
    assert.deepEqual(own, []);
    assert.ok(!err.includes("no running instances"), err);
  } finally {
    await admin.disconnect();
  }
});

Deno.test("the demo's permission set grants every variable the commands it runs may read", () => {
  const sets = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).permissions;
  const granted = new Set<string>(sets.demo.env);
  // The demo passes --url to register-webhook (no ngrok tunnel), and runs consume position only.
  const unused = new Set(["NGROK_AUTHTOKEN", "NOTIFY_RULES", "NOTIFY_*", "ACTUAL_*"]);
  const needed = ["serve", "register-webhook", "simulate", "enrich", "consume", "backfill"]
    .flatMap((name) => sets[name].env as string[]);
  const missing = [...new Set([...CONFIG_VARIABLES, ...PIPELINE_VARIABLES, ...needed])]
    .filter((name) => !granted.has(name) && !unused.has(name));
  assert.deepEqual(missing, [], "add them to permissions.demo.env in deno.json");
});

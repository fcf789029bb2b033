/**
 * Upgrade in place: a data directory written by the previous landed version of upbus, checked out
 * into a temporary worktree and driven with its own commands (embedded mode: the service, `enrich`,
 * `consume ledger`, `consume notify`, `backfill`, then the service killed with -9 while two events
 * were not yet enriched), opened by this version's commands. Every event answered `200` is still
 * stored and reaches the local log, nothing is handled twice (no ledger entry, no notification),
 * every consumer resumes where it was and handles what came after, and every file ends at this
 * version's format.
 *
 * When a change alters a stored format, add the commit that last wrote the old format to
 * {@linkcode PREVIOUS_VERSIONS} (keep the older ones while users may still have them).
 *
 * With Kafka, the relay's position carries over (publish marks in events.db: a publish time per
 * row before version 3, the relay's high-water mark since): every event stored before and after
 * the kill reaches Kafka once, read back with kcat, and none the old version had published is
 * sent again. (Kafka consumer groups live in the broker, not the data directory.)
 *
 * Permissions: as the test task (`--allow-run=deno,git,kcat`, the shared test broker).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { LOCAL_LOG_SCHEMA } from "../../lib/bus/local/local_log.ts";
import { CONSUMER_STATE_SCHEMA } from "../../lib/consumers/idempotent.ts";
import { OUTBOX_SCHEMA } from "../../lib/consumers/notify/outbox.ts";
import { latestVersion, type VersionedSchema } from "../../lib/runtime/versioned_db.ts";
import { countEventsAnyVersion } from "../../lib/store/queries.ts";
import { EVENT_STORE_SCHEMA } from "../../lib/store/schema.ts";
import { createSimulatorControl } from "../../lib/up_sim/control.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { serveLocalTargets } from "../support/notify_targets.ts";
import { waitFor } from "../support/pipeline.ts";
import { consumeWithKcat, kcatHeaders } from "../support/consume.ts";
import { testBrokers } from "../support/kafka.ts";
import {
  PROJECT_ROOT,
  type RunningUpbus,
  runUpbus,
  startServe,
  startUpbus,
  type UpbusProgram,
} from "../support/upbus_program.ts";

/** Landed versions whose data directories this version must open, newest first. */
const PREVIOUS_VERSIONS = [
  // Session 4's main before the state order (issue 18.4) and the relay's mark: pipeline.db at
  // version 2 (leases, no index by key), events.db at version 2 (a publish time per row).
  "b3b0aab",
  // Session 3's last landing: pipeline.db at version 1 (no leases), consumer state at version 1.
  "821b39b",
  // Session 2's last landing: every file unversioned (user_version 0, JSON without `version`).
  "ddd0f66",
];

async function git(...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", { args, cwd: PROJECT_ROOT, stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.ok(output.success, `git ${args.join(" ")}: ${text}`);
  return text;
}

function task(permissionSet: string, cwd?: string): UpbusProgram {
  return {
    command: "deno",
    prefix: ["run", `-P=${permissionSet}`, "--no-prompt", "main.ts"],
    cwd,
    timeoutMs: 120_000,
  };
}

function count(path: string, sql: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Events not yet published, by either format of the relay's position. */
function unpublishedIn(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return countEventsAnyVersion(db).unpublished;
  } finally {
    db.close();
  }
}

/** The event ids the old version had marked published, by its own format (a time per row). */
function publishedByOldFormat(path: string): Set<string> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare("SELECT event_id FROM events WHERE published_at IS NOT NULL").all();
    return new Set(rows.map((row) => String(row.event_id)));
  } finally {
    db.close();
  }
}

function fileVersionOf(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  } finally {
    db.close();
  }
}

/** The ids in the ledger's CSV, one per entry (first column after the header). */
async function ledgerIds(dataDir: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${dataDir}/ledger/transactions.csv`).catch(() => "");
  const [header, ...rows] = text.split("\n").filter((line) => line.trim() !== "");
  if (header === undefined) return [];
  const column = header.split(",").indexOf("id");
  assert.ok(column >= 0, `the ledger CSV has an id column: ${header}`);
  return rows.map((row) => row.split(",")[column]);
}

const RULES = (url: string) =>
  `targets:
  phone:
    type: ntfy
    url: ${url}/ntfy
    topic: upgrade
    initial_delay_ms: 50
    rate_per_minute: 600
rules:
  - name: every purchase
    match: { direction: out }
    notify:
      - target: phone
        message: "{{description}}"
`;

for (const commit of PREVIOUS_VERSIONS) {
  Deno.test(`a data directory from ${commit} opens in place: nothing lost, nothing twice`, async (t) => {
    const scratch = await Deno.makeTempDir({ prefix: "upbus-upgrade-" });
    const oldTree = `${scratch}/upbus-${commit}`;
    const dataDir = `${scratch}/data`;
    await git("worktree", "add", "--detach", oldTree, commit);
    const sim = serveUpSimulator({ port: 0, seedTransactions: 0, retryDelaysMs: [100, 300, 1000] });
    const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus");
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
    const targets = serveLocalTargets({
      webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      telegramToken: "1:x",
      discord: { id: "1", token: "x" },
    });
    await Deno.writeTextFile(`${scratch}/notify.yaml`, RULES(targets.url));
    const env = {
      DATA_DIR: dataDir,
      UP_WEBHOOK_SECRETS: webhook.secretKey,
      UP_API_BASE: sim.baseUrl,
      UP_API_TOKEN: sim.token,
      NOTIFY_RULES: `${scratch}/notify.yaml`,
      LOG_FORMAT: "json",
    };
    const eventsDb = `${dataDir}/events.db`;
    const stored = () => count(eventsDb, "SELECT count(*) AS n FROM events");
    const running: RunningUpbus[] = [];
    const start = async (program: UpbusProgram, args: string[], ready: string) => {
      const [child] = await startUpbus(program, args, {
        env,
        ready: (_line, log) => log?.msg === ready ? true : undefined,
      });
      running.push(child);
      return child;
    };
    const serve = async (cwd?: string) => {
      const [child, url] = await startServe(task("serve", cwd), env);
      running.push(child);
      webhook.url = `${url}/webhook`;
      return child;
    };
    /** Creates and settles a purchase; resolves once the service stored both events. */
    let made = 0;
    const purchase = async (description: string) => {
      const before = stored();
      const created = await control.createTransaction({ amount: "-12.34", description });
      await control.settleTransaction(created.id);
      made++;
      await waitFor(() => stored() >= before + 2, `both events of ${description} stored`);
      return created.id;
    };
    const notified = () => targets.received.map((received) => String(received.body.message));
    try {
      await t.step(`${commit} writes the data directory with its own commands`, async () => {
        const oldServe = await serve(oldTree);
        // A new notify group starts at the end: it runs before the purchases it must see.
        const consumers = [
          await start(task("enrich", oldTree), ["enrich"], "enricher running"),
          await start(task("consume", oldTree), ["consume", "ledger"], "consumer running"),
          await start(task("consume", oldTree), ["consume", "notify"], "consumer running"),
        ];
        for (const name of ["Old Cafe 1", "Old Cafe 2", "Old Cafe 3"]) await purchase(name);
        await waitFor(async () => (await ledgerIds(dataDir)).length === 3, "3 ledger entries");
        await waitFor(() => notified().length === 3, "3 notifications");
        const since = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
        const backfill = await runUpbus(task("backfill", oldTree), ["backfill", "--since", since], {
          env,
        });
        assert.equal(backfill.code, 0, backfill.stdout + backfill.stderr);
        for (const child of consumers) assert.equal((await child.stop("SIGTERM")).code, 0);
        // Two more, stored but not enriched, then the service dies without a word.
        await purchase("Old Cafe 4");
        await purchase("Old Cafe 5");
        await oldServe.stop("SIGKILL");
        const written = [fileVersionOf(eventsDb), fileVersionOf(`${dataDir}/pipeline.db`)];
        assert.ok(
          written[0] < latestVersion(EVENT_STORE_SCHEMA) ||
            written[1] < latestVersion(LOCAL_LOG_SCHEMA),
          `${commit} wrote an older format than this version's: ${written}`,
        );
      });

      await t.step(
        "this version opens it, resumes every consumer and handles what came after",
        async () => {
          await serve();
          await start(task("enrich"), ["enrich"], "enricher running");
          await start(task("consume"), ["consume", "ledger"], "consumer running");
          await start(task("consume"), ["consume", "notify"], "consumer running");
          await purchase("New Cafe 6");
          await waitFor(
            async () => (await ledgerIds(dataDir)).length >= 6,
            "6 ledger entries",
            60_000,
          );
          await waitFor(() => notified().length >= 6, "6 notifications", 60_000);
          // Give a duplicate the time to show itself.
          await new Promise((resolve) => setTimeout(resolve, 1500));
          const ids = await ledgerIds(dataDir);
          assert.equal(ids.length, 6, `one ledger entry per purchase: ${ids.join(" ")}`);
          assert.equal(new Set(ids).size, 6, "no ledger entry twice");
          assert.deepEqual(
            notified().sort(),
            [1, 2, 3, 4, 5].map((n) => `Old Cafe ${n}`).concat("New Cafe 6").sort(),
            "one notification per purchase, none twice",
          );
          assert.equal(stored(), made * 2, "every event answered 200 is still stored, once");
          const transactions = count(
            `${dataDir}/pipeline.db`,
            "SELECT count(DISTINCT key) AS n FROM records WHERE topic = 'up.transactions'",
          );
          assert.equal(transactions, made, "every transaction reached the local log");
        },
      );

      await t.step("every file is at this version's format", async () => {
        const files: [string, VersionedSchema][] = [
          [eventsDb, EVENT_STORE_SCHEMA],
          [`${dataDir}/pipeline.db`, LOCAL_LOG_SCHEMA],
          [`${dataDir}/notify/state.db`, OUTBOX_SCHEMA],
        ];
        for await (const entry of Deno.readDir(`${dataDir}/consumers`)) {
          if (entry.name.endsWith(".db")) {
            files.push([`${dataDir}/consumers/${entry.name}`, CONSUMER_STATE_SCHEMA]);
          }
        }
        for (const [path, schema] of files) {
          assert.equal(fileVersionOf(path), latestVersion(schema), path);
        }
        const webhooks = JSON.parse(
          await Deno.readTextFile(`${dataDir}/webhooks.json`).catch(() => '{"version":1}'),
        );
        assert.equal(webhooks.version, 1);
      });
    } finally {
      await Promise.all(running.map((child) => child.stop("SIGTERM").catch(() => {})));
      await targets.close();
      await sim.shutdown();
      await git("worktree", "remove", "--force", oldTree).catch(() => {});
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  });
}

for (const commit of PREVIOUS_VERSIONS) {
  Deno.test(`with Kafka, ${commit}'s relay position carries over: every event published, none lost`, async () => {
    const scratch = await Deno.makeTempDir({ prefix: "upbus-upgrade-kafka-" });
    const oldTree = `${scratch}/upbus-${commit}`;
    const dataDir = `${scratch}/data`;
    await git("worktree", "add", "--detach", oldTree, commit);
    const brokers = await testBrokers();
    const topic = `upgrade.${crypto.randomUUID().slice(0, 8)}`;
    const sim = serveUpSimulator({ port: 0, seedTransactions: 0, retryDelaysMs: [100, 300, 1000] });
    const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "upbus");
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
    const env = {
      DATA_DIR: dataDir,
      UP_WEBHOOK_SECRETS: webhook.secretKey,
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
      KAFKA_TOPIC_PARTITIONS: "3",
      LOG_FORMAT: "json",
    };
    const eventsDb = `${dataDir}/events.db`;
    const stored = () => count(eventsDb, "SELECT count(*) AS n FROM events");
    const unpublished = () => unpublishedIn(eventsDb);
    const running: RunningUpbus[] = [];
    const serve = async (cwd?: string) => {
      const [child, url] = await startServe(task("serve", cwd), env);
      running.push(child);
      webhook.url = `${url}/webhook`;
      return child;
    };
    const purchase = async (description: string) => {
      const before = stored();
      const created = await control.createTransaction({ amount: "-5.00", description });
      await control.settleTransaction(created.id);
      await waitFor(() => stored() >= before + 2, `both events of ${description} stored`);
    };
    try {
      const oldServe = await serve(oldTree);
      for (const n of [1, 2, 3]) await purchase(`Kafka Cafe ${n}`);
      await waitFor(() => unpublished() === 0, `${commit} published what it stored`);
      const publishedByOld = stored();
      // Two more, then the service dies without a word, perhaps before publishing them.
      await purchase("Kafka Cafe 4");
      await purchase("Kafka Cafe 5");
      await oldServe.stop("SIGKILL");
      const oldFormat = fileVersionOf(eventsDb);
      assert.ok(
        oldFormat < latestVersion(EVENT_STORE_SCHEMA),
        `${commit} wrote events.db in an older format`,
      );
      const markedByOld = publishedByOldFormat(eventsDb);
      const newServe = await serve();
      // The migration rewrites the relay's position: a copy of the old file is kept, and said.
      const migrated = newServe.logs.find((log) =>
        log.msg === "event store migrated to the new format"
      );
      const copy = `${eventsDb}.v${Math.max(1, oldFormat)}.bak`;
      assert.equal(migrated?.backup, copy, JSON.stringify(migrated));
      assert.equal(fileVersionOf(copy), oldFormat, "the copy is the old file");
      await purchase("Kafka Cafe 6");
      await waitFor(() => unpublished() === 0, "this version published every stored event", 60_000);
      const ids = new Set<string>();
      const copies = new Map<string, number>();
      let records = 0;
      await waitFor(
        async () => {
          const read = await consumeWithKcat(brokers, topic);
          ids.clear();
          copies.clear();
          for (const record of read) {
            const id = kcatHeaders(record).ce_id;
            ids.add(id);
            copies.set(id, (copies.get(id) ?? 0) + 1);
          }
          records = read.length;
          return ids.size >= stored();
        },
        "every stored event in Kafka",
        60_000,
      );
      assert.equal(ids.size, stored(), "every event answered 200 is in Kafka");
      // Only the events the old service may have sent without marking them can appear twice.
      assert.ok(
        records - ids.size <= stored() - publishedByOld,
        `${records - ids.size} duplicates; at most the ${
          stored() - publishedByOld
        } events of the kill`,
      );
      // What the old version marked published is not sent again by this one.
      const again = [...markedByOld].filter((id) => (copies.get(id) ?? 0) > 1);
      assert.deepEqual(again, [], "nothing the old version marked published is sent again");
      assert.equal(fileVersionOf(eventsDb), latestVersion(EVENT_STORE_SCHEMA));
    } finally {
      await Promise.all(running.map((child) => child.stop("SIGTERM").catch(() => {})));
      await sim.shutdown();
      await git("worktree", "remove", "--force", oldTree).catch(() => {});
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  });
}

/**
 * `upbus data backup` while 200 signed webhooks arrive: the copy is consistent (every event it
 * holds is whole and was answered 200, integrity_check ok), owner-only, and a data directory on
 * which the service and the enricher start and hold every event of it; `data status` reports
 * each file's version and the enricher's lag. Each command runs as its task runs it.
 *
 * Permissions: as the test task (`--allow-run=deno`).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";
import { latestVersion, openVersioned } from "../../lib/runtime/versioned_db.ts";
import { MQTT_STATE_SCHEMA } from "../../lib/consumers/mqtt/state_store.ts";
import {
  openTransactionStates,
  TRANSACTION_STATES_SCHEMA,
} from "../../lib/bus/kafka/transaction_states.ts";
import { EVENT_STORE_SCHEMA } from "../../lib/store/schema.ts";
import { eventBody, SECRET, signedPost } from "../support/app.ts";
import { waitFor } from "../support/pipeline.ts";
import {
  type RunningUpbus,
  runUpbus,
  startServe,
  startUpbus,
  type UpbusProgram,
} from "../support/upbus_program.ts";

function task(permissionSet: string): UpbusProgram {
  return { command: "deno", prefix: ["run", `-P=${permissionSet}`, "--no-prompt", "main.ts"] };
}

function eventIds(path: string): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const check = db.prepare("PRAGMA integrity_check").get() as { integrity_check: string };
    assert.equal(check.integrity_check, "ok", path);
    return db.prepare("SELECT event_id FROM events ORDER BY seq").all().map((row) =>
      String(row.event_id)
    );
  } finally {
    db.close();
  }
}

Deno.test("data backup while 200 webhooks arrive restores into a directory every command starts on", async (t) => {
  const scratch = await Deno.makeTempDir({ prefix: "upbus-backup-" });
  const dataDir = `${scratch}/data`;
  const copy = `${scratch}/copy`;
  const sim = serveUpSimulator({ port: 0, seedTransactions: 0 });
  const env = {
    DATA_DIR: dataDir,
    UP_WEBHOOK_SECRETS: SECRET,
    UP_API_BASE: sim.baseUrl,
    UP_API_TOKEN: sim.token,
    LOG_FORMAT: "json",
  };
  const running: RunningUpbus[] = [];
  try {
    const [service, url] = await startServe(task("serve"), env);
    running.push(service);
    const answered: string[] = [];
    let backupResult: Awaited<ReturnType<typeof runUpbus>> | undefined;
    await t.step("the backup runs while the service answers 200 webhooks", async () => {
      const post = async (n: number) => {
        const id = `evt-backup-${String(n).padStart(3, "0")}`;
        const body = eventBody({ id, type: "TRANSACTION_CREATED", transactionId: `tx-${n}` });
        const response = await fetch(`${url}/webhook`, await signedPost(body));
        await response.body?.cancel();
        if (response.status === 200) answered.push(id);
      };
      let backupDone = false;
      let duringBackup = 0;
      const load = (async () => {
        for (let n = 0; !backupDone || answered.length < 200; n += 4) {
          await Promise.all([0, 1, 2, 3].map((i) => post(n + i)));
          if (!backupDone && answered.length >= 40) duringBackup += 4;
        }
      })();
      await waitFor(() => answered.length >= 40, "40 webhooks answered");
      backupResult = await runUpbus(task("data"), ["data", "backup", copy], { env });
      backupDone = true;
      await load;
      assert.ok(answered.length >= 200);
      assert.equal(backupResult.code, 0, backupResult.stdout + backupResult.stderr);
      assert.match(backupResult.stdout, new RegExp(`copied \\d+ files of ${dataDir} to ${copy}`));
      assert.ok(duringBackup >= 20, `webhooks kept arriving during the backup (${duringBackup})`);
    });

    await t.step(
      "the copy is consistent, owner-only, and holds only events answered 200",
      async () => {
        const held = eventIds(`${copy}/events.db`);
        assert.ok(held.length >= 40, `${held.length} events in the copy`);
        assert.ok(
          held.every((id) => answered.includes(id)),
          "every event in the copy was answered",
        );
        // Events arrive in order of seq; the copy is a prefix of what the service stored.
        assert.deepEqual(held, eventIds(`${dataDir}/events.db`).slice(0, held.length));
        for await (const entry of Deno.readDir(copy)) {
          if (entry.isFile) {
            assert.equal((await Deno.stat(`${copy}/${entry.name}`)).mode! & 0o777, 0o600);
          }
        }
        assert.equal((await Deno.stat(copy)).mode! & 0o777, 0o700);
      },
    );

    await t.step(
      "a second backup into an existing directory is refused and changes nothing",
      async () => {
        const again = await runUpbus(task("data"), ["data", "backup", copy], { env });
        assert.equal(again.code, 1);
        assert.match(again.stderr, /exists already/);
      },
    );

    await t.step(
      "the service and the enricher start on the restored copy and hold every event",
      async () => {
        const held = eventIds(`${copy}/events.db`);
        const restored = { ...env, DATA_DIR: copy };
        const [copyService] = await startServe(task("serve"), restored);
        running.push(copyService);
        const [enricher] = await startUpbus(task("enrich"), ["enrich"], {
          env: restored,
          ready: (_line, log) => log?.msg === "enricher running" ? true : undefined,
        });
        running.push(enricher);
        const status = async () => {
          const run = await runUpbus(task("data"), ["data", "status", "--json"], { env: restored });
          assert.equal(run.code, 0, run.stderr);
          return JSON.parse(run.stdout) as {
            files: { path: string; version: number | null }[];
            events: { stored: number };
            positions: { group: string; source: string; lag: number }[];
          };
        };
        await waitFor(
          async () => {
            const now = await status();
            return now.positions.some((p) => p.source === "events.db" && p.lag === 0);
          },
          "the enricher caught up with every event of the copy",
          60_000,
        );
        const final = await status();
        assert.equal(final.events.stored, held.length);
        assert.deepEqual(eventIds(`${copy}/events.db`), held, "nothing lost, nothing added");
        const events = final.files.find((file) => file.path === "events.db");
        assert.equal(events?.version, latestVersion(EVENT_STORE_SCHEMA));
        const text = await runUpbus(task("data"), ["data", "status"], { env: restored });
        assert.match(text.stdout, /events\.db .* version \d+/);
        assert.match(text.stdout, /upbus-enricher reads events\.db at \d+, 0 behind/);
      },
    );
  } finally {
    await Promise.all(running.map((child) => child.stop("SIGTERM").catch(() => {})));
    await sim.shutdown();
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
});

Deno.test("data status knows the mqtt consumer's state files and their version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-data-mqtt-" });
  try {
    for (const name of ["state.db", "state.local.db"]) {
      await Deno.mkdir(`${dir}/mqtt`, { recursive: true });
      openVersioned(`${dir}/mqtt/${name}`, MQTT_STATE_SCHEMA).close();
    }
    const run = await runUpbus(task("data"), ["data", "status", "--json"], {
      env: { DATA_DIR: dir },
    });
    assert.equal(run.code, 0, run.stderr);
    const files = (JSON.parse(run.stdout) as {
      files: { path: string; version: number | null; latest: number | null }[];
    }).files.filter((file) => file.path.startsWith("mqtt/"));
    const latest = latestVersion(MQTT_STATE_SCHEMA);
    assert.deepEqual(files.map(({ path, version, latest }) => ({ path, version, latest })), [
      { path: "mqtt/state.db", version: latest, latest },
      { path: "mqtt/state.local.db", version: latest, latest },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("data status lists transaction_states.db at its version, and data backup copies it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-data-states-" });
  try {
    const states = openTransactionStates(`${dir}/data`);
    states.remember([{ key: "tx-1", mark: { state: "SETTLED", digest: "d" } }]);
    states.close();
    const env = { DATA_DIR: `${dir}/data` };
    const run = await runUpbus(task("data"), ["data", "status", "--json"], { env });
    assert.equal(run.code, 0, run.stderr);
    const files = (JSON.parse(run.stdout) as {
      files: { path: string; version: number | null; latest: number | null }[];
    }).files.filter((file) => file.path === "transaction_states.db");
    const latest = latestVersion(TRANSACTION_STATES_SCHEMA);
    assert.deepEqual(files.map(({ path, version, latest }) => ({ path, version, latest })), [
      { path: "transaction_states.db", version: latest, latest },
    ]);
    const backup = await runUpbus(task("data"), ["data", "backup", `${dir}/copy`], { env });
    assert.equal(backup.code, 0, backup.stderr);
    const copy = openTransactionStates(`${dir}/copy`);
    try {
      assert.deepEqual(copy.last("tx-1"), { state: "SETTLED", digest: "d" });
    } finally {
      copy.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

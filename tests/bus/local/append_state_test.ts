/**
 * The local log's state check (issue 18.4) under what users run: several writers at once and a
 * topic that has grown. Two processes (an `enrich` and a `backfill`, say) append the states of the
 * same transactions in opposite orders at the same time through the local log sink: every key ends
 * at its highest state (a tombstone, then SETTLED, then HELD), and no key's records in the topic
 * ever go down (the check runs inside the append's write transaction, so neither writer decides on
 * a state the other has already passed). And the query that finds a key's latest record uses the
 * index by key, never a scan of the topic (a scan made each append 2.4 ms over 5 000 records).
 * Checked to fail: the race with the lookup done before the append's `BEGIN IMMEDIATE` (a key
 * went from a tombstone back to HELD), the plan with `ORDER BY record_offset DESC LIMIT 1` (SQLite
 * searches the topic by primary key).
 *
 * Permissions: `--allow-read`/`--allow-write` (/tmp), `--allow-run=deno` (the two writers).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { LATEST_OF_KEY, openLocalLog } from "../../../lib/bus/local/local_log.ts";
import { stateOf } from "../../../lib/bus/transaction_state.ts";

const TOPIC = "up.transactions";
const KEYS = 200;
const SINK_MODULE = new URL("../../../lib/bus/local/local_log_sink.ts", import.meta.url).href;
const LOG_MODULE = new URL("../../../lib/bus/local/local_log.ts", import.meta.url).href;

/** A writer in its own process: every key's states in `order`, one publish each. */
function writer(dir: string, order: string[]): Deno.ChildProcess {
  const code = `
    import { openLocalLog } from "${LOG_MODULE}";
    // Both writers start together: each waits for the go file the test writes once both run.
    while (true) {
      try { Deno.statSync(${
    JSON.stringify(`${dir}/go`)
  }); break; } catch { await new Promise((r) => setTimeout(r, 1)); }
    }
    import { localLogTransactionSink } from "${SINK_MODULE}";
    const log = await openLocalLog(${JSON.stringify(dir)});
    const sink = localLogTransactionSink(log, { topic: "${TOPIC}" });
    const value = (id, status) => status === "DELETED"
      ? null
      : JSON.stringify({ type: "transactions", id, attributes: { status, amount: "-4.20" } });
    for (const status of ${JSON.stringify(order)}) {
      for (let k = 0; k < ${KEYS}; k++) {
        await sink.publish({ key: "tx-" + k, value: value("tx-" + k, status), headers: {} });
      }
    }
    log.close();
  `;
  return new Deno.Command("deno", {
    args: ["eval", "--quiet", code],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

const RANK = { HELD: 1, SETTLED: 2, DELETED: 3, UNKNOWN: 0 } as const;

Deno.test("two processes appending a transaction's states in opposite orders at once leave every key at its highest state, never going down", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-append-state-" });
  // The file exists, at its latest version, before the writers race.
  (await openLocalLog(dir)).close();
  try {
    for (let round = 0; round < 3; round++) {
      await Deno.remove(`${dir}/go`).catch(() => {});
      const up = writer(dir, ["HELD", "SETTLED", "DELETED"]);
      const down = writer(dir, ["DELETED", "SETTLED", "HELD"]);
      // Long enough for both to have loaded their modules and be waiting.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await Deno.writeTextFile(`${dir}/go`, "");
      for (const child of [up, down]) {
        const { success, stderr } = await child.output();
        assert.ok(success, new TextDecoder().decode(stderr));
      }
    }
    const log = await openLocalLog(dir);
    try {
      const byKey = new Map<string, number[]>();
      for (const message of log.read(TOPIC, { from: 0, limit: 100_000 })) {
        const rank = RANK[stateOf({ value: message.value }).state];
        byKey.set(message.key!, [...(byKey.get(message.key!) ?? []), rank]);
      }
      assert.equal(byKey.size, KEYS);
      for (const [key, ranks] of byKey) {
        assert.equal(ranks.at(-1), RANK.DELETED, `${key} ends deleted: ${ranks}`);
        for (let i = 1; i < ranks.length; i++) {
          assert.ok(ranks[i] > ranks[i - 1], `${key} went from ${ranks[i - 1]} to ${ranks[i]}`);
        }
      }
    } finally {
      log.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key's latest record is found through the index by key, not a scan of the topic", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-append-state-" });
  try {
    const log = await openLocalLog(dir);
    log.append(
      TOPIC,
      Array.from({ length: 2000 }, (_, i) => ({ key: `tx-${i % 500}`, value: "{}" })),
    );
    log.close();
    const db = new DatabaseSync(`${dir}/pipeline.db`);
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${LATEST_OF_KEY}`).all(TOPIC, TOPIC, "tx-7") as {
        detail: string;
      }[]).map((row) => row.detail);
      assert.ok(plan.some((step) => /records_by_key/.test(step)), plan.join("\n"));
      assert.ok(
        !plan.some((step) => /^SCAN records\b/.test(step)),
        `a step scans the topic:\n${plan.join("\n")}`,
      );
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

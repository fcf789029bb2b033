/**
 * `DATA_DIR/transaction_states.db`: a key's state never moves back, and several processes that
 * open a fresh file at the same moment (enrich, backfill and the service's reconciliation started
 * together) all open it and write.
 *
 * Permissions: as the test task (`--allow-run=deno`).
 */
import assert from "node:assert/strict";
import {
  openTransactionStates,
  TRANSACTION_STATES_FILE,
  TRANSACTION_STATES_SCHEMA,
} from "../../../lib/bus/kafka/transaction_states.ts";
import { fileVersion, latestVersion } from "../../../lib/runtime/versioned_db.ts";

Deno.test("TransactionStates keeps each key's newest state: a stale remember changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-states-" });
  const states = openTransactionStates(dir);
  try {
    assert.equal(states.last("tx-1"), undefined);
    states.remember([{ key: "tx-1", mark: { state: "HELD", digest: "a" } }]);
    states.remember([{ key: "tx-1", mark: { state: "HELD", digest: "b" } }]);
    assert.deepEqual(states.last("tx-1"), { state: "HELD", digest: "b" }, "a changed HELD");
    states.remember([{ key: "tx-1", mark: { state: "DELETED", digest: "tombstone" } }]);
    // A writer that checked before the tombstone and sent after it.
    states.remember([{ key: "tx-1", mark: { state: "SETTLED", digest: "c" } }]);
    assert.deepEqual(states.last("tx-1"), { state: "DELETED", digest: "tombstone" });
    const other = openTransactionStates(dir, { topic: "other.transactions" });
    try {
      assert.equal(other.last("tx-1"), undefined, "each topic has its own states");
    } finally {
      other.close();
    }
    assert.equal(
      fileVersion(`${dir}/${TRANSACTION_STATES_FILE}`),
      latestVersion(TRANSACTION_STATES_SCHEMA),
    );
    assert.equal((await Deno.stat(`${dir}/${TRANSACTION_STATES_FILE}`)).mode! & 0o777, 0o600);
  } finally {
    states.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transaction_states.db opened by four processes at once on a fresh directory, ten times: all write", async () => {
  const child = new URL("../../support/transaction_states_child.ts", import.meta.url).pathname;
  for (let round = 0; round < 10; round++) {
    const dir = await Deno.makeTempDir({ prefix: "upbus-states-together-" });
    try {
      const runs = await Promise.all(
        ["tx-a", "tx-b", "tx-c", "tx-d"].map((key) =>
          new Deno.Command("deno", {
            args: ["run", "--allow-read", "--allow-write", child, dir, key],
            stdout: "piped",
            stderr: "piped",
          }).output()
        ),
      );
      for (const run of runs) {
        const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
        assert.equal(run.code, 0, `round ${round}: ${text}`);
      }
      const states = openTransactionStates(dir);
      try {
        for (const key of ["tx-a", "tx-b", "tx-c", "tx-d"]) {
          assert.equal(states.last(key)?.state, "SETTLED", `round ${round}: ${key}`);
        }
      } finally {
        states.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

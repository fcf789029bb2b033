/** DATA_DIR/recovery.json: version 1, owner-only, a newer or broken file refused unchanged. */
import assert from "node:assert/strict";
import {
  readRecoveryState,
  recoveryStatePath,
  writeRecoveryState,
} from "../../lib/webhook/recovery/recovery_state.ts";

Deno.test("the recovery state round-trips, owner-only, and a newer or broken file is refused unchanged", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const state = {
      version: 1 as const,
      lastCompletePass: "2026-12-07T00:00:00.000Z",
      reconcileFrom: "2026-12-06T00:00:00.000Z",
      webhooks: { "wh-1": { completeUntil: "2026-12-06T23:59:00.000Z" } },
      accounts: { "acc-1": { completeUntil: "2026-12-06T23:59:00.000Z" } },
    };
    await writeRecoveryState(dir, state);
    assert.deepEqual(await readRecoveryState(dir), state);
    assert.equal((await Deno.stat(recoveryStatePath(dir))).mode! & 0o777, 0o600);

    await Deno.writeTextFile(recoveryStatePath(dir), JSON.stringify({ ...state, version: 7 }));
    const newer = await Deno.readTextFile(recoveryStatePath(dir));
    await assert.rejects(readRecoveryState(dir), /format version 7, written by a newer upbus/);
    assert.equal(await Deno.readTextFile(recoveryStatePath(dir)), newer);

    await Deno.writeTextFile(recoveryStatePath(dir), "{not json");
    await assert.rejects(readRecoveryState(dir), /is not JSON; delete it/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

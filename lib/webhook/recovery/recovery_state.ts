/**
 * @module Recovery state
 * `DATA_DIR/recovery.json` (owner-only, `{ "version": 1, ... }`): up to when each webhook's
 * delivery logs and each account's transactions are known complete, and when the last whole
 * pass ended. A pass reads from there (less a margin) instead of from the beginning; a missing
 * file means no pass has completed yet.
 */

import { type JsonSchema, upgradeJson } from "../../runtime/versioned_json.ts";

/** The file's formats (lib/runtime/versioned_json.ts): version 1 so far. */
export const RECOVERY_STATE_SCHEMA: JsonSchema = { name: "recovery state", migrations: [] };

/** The file's name in the data directory. */
export const RECOVERY_STATE_FILE = "recovery.json";

/** What one source is known complete up to. */
export interface CompleteUntil {
  /** Every log entry / transaction created before this instant was seen (ISO 8601). */
  completeUntil: string;
}

/** The state. */
export interface RecoveryState {
  /** The file format's version. */
  version: 1;
  /** When the last pass that read every source without an error ended (ISO 8601). */
  lastCompletePass?: string;
  /** Where reconciliation's knowledge begins (ISO 8601): the first stored event when the first
   * pass ran (or that pass's start, on an empty store). Earlier history is backfill's. */
  reconcileFrom?: string;
  /** Per webhook id. */
  webhooks: Record<string, CompleteUntil>;
  /** Per account id. */
  accounts: Record<string, CompleteUntil>;
}

/**
 * The state file's path.
 *
 * @param dataDir `DATA_DIR`.
 * @returns `DATA_DIR/recovery.json`.
 */
export function recoveryStatePath(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, "")}/${RECOVERY_STATE_FILE}`;
}

function isCompleteMap(value: unknown): value is Record<string, CompleteUntil> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.values(value).every((entry) =>
      typeof entry === "object" && entry !== null &&
      typeof (entry as CompleteUntil).completeUntil === "string" &&
      !Number.isNaN(Date.parse((entry as CompleteUntil).completeUntil))
    );
}

/**
 * Reads the state; a missing file is an empty state.
 *
 * @param dataDir `DATA_DIR`.
 * @returns The state.
 * @throws {TypeError} If the file is not a version 1 recovery state (it is left unchanged).
 *
 * @example
 * ```ts
 * import { readRecoveryState } from "./recovery_state.ts";
 * const dir = await Deno.makeTempDir();
 * if ((await readRecoveryState(dir)).lastCompletePass !== undefined) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readRecoveryState(dataDir: string): Promise<RecoveryState> {
  const path = recoveryStatePath(dataDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, webhooks: {}, accounts: {} };
    throw error;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TypeError(
      `Cannot read recovery state: ${path} is not JSON; delete it and the next pass reads Up's logs from the start`,
    );
  }
  // A newer file is refused (NewerJsonFileError) and left as it is.
  const value = upgradeJson(parsed, path, RECOVERY_STATE_SCHEMA) as
    & Partial<RecoveryState>
    & { version?: unknown };
  if (value.version !== 1 || !isCompleteMap(value.webhooks) || !isCompleteMap(value.accounts)) {
    throw new TypeError(
      `Cannot read recovery state: ${path} is not a version 1 recovery state; delete it and the next pass reads Up's logs from the start`,
    );
  }
  return {
    version: 1,
    ...(typeof value.lastCompletePass === "string"
      ? { lastCompletePass: value.lastCompletePass }
      : {}),
    ...(typeof value.reconcileFrom === "string" ? { reconcileFrom: value.reconcileFrom } : {}),
    webhooks: value.webhooks,
    accounts: value.accounts,
  };
}

/**
 * Writes the state atomically (a 0600 temporary file, flushed, renamed over the old one).
 *
 * @param dataDir `DATA_DIR`.
 * @param state The whole state.
 *
 * @example
 * ```ts
 * import { readRecoveryState, writeRecoveryState } from "./recovery_state.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRecoveryState(dir, { version: 1, webhooks: {}, accounts: {}, lastCompletePass: "2026-01-01T00:00:00Z" });
 * if ((await readRecoveryState(dir)).lastCompletePass !== "2026-01-01T00:00:00Z") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeRecoveryState(dataDir: string, state: RecoveryState): Promise<void> {
  const path = recoveryStatePath(dataDir);
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    try {
      await file.write(new TextEncoder().encode(JSON.stringify(state, null, 2) + "\n"));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

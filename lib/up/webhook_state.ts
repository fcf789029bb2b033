/**
 * The webhook state file, `DATA_DIR/webhooks.json`: the webhooks upbus registered with Up and
 * their secrets, which Up shows only once. Written atomically (temporary file, then rename) with
 * mode 0600; the server reads it to accept these secrets beside `UP_WEBHOOK_SECRETS`.
 *
 * @module
 */
import { NewerJsonFileError } from "../runtime/versioned_json.ts";

/** The file name under `DATA_DIR`. */
export const WEBHOOK_STATE_FILE = "webhooks.json";

/** One webhook upbus registered. */
export interface WebhookStateEntry {
  /** Up's id of the webhook. */
  id: string;
  /** The URL Up delivers to. */
  url: string;
  /** The description given at creation, or `null`. */
  description: string | null;
  /** The signing secret Up returned at creation. */
  secretKey: string;
  /** When Up created it (RFC 3339). */
  createdAt: string;
}

/** The whole state file. */
export interface WebhookState {
  /** The file format's version. */
  version: 1;
  /** Oldest first. */
  webhooks: WebhookStateEntry[];
}

/**
 * The path of the state file.
 *
 * @param dataDir The data directory (`DATA_DIR`).
 * @returns `dataDir/webhooks.json`.
 *
 * @example
 * ```ts
 * import { webhookStatePath } from "./webhook_state.ts";
 * if (webhookStatePath("./data") !== "./data/webhooks.json") throw new Error("unexpected");
 * ```
 */
export function webhookStatePath(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, "") || "."}/${WEBHOOK_STATE_FILE}`;
}

function isEntry(value: unknown): value is WebhookStateEntry {
  if (typeof value !== "object" || value === null) return false;
  const entry = value as Record<string, unknown>;
  return typeof entry.id === "string" && entry.id !== "" &&
    typeof entry.url === "string" &&
    (entry.description === null || typeof entry.description === "string") &&
    typeof entry.secretKey === "string" && entry.secretKey !== "" &&
    typeof entry.createdAt === "string";
}

/**
 * Parses and checks the text of a state file.
 *
 * @param text The file's contents.
 * @param path Where it came from, for messages.
 * @returns The state.
 * @throws {SyntaxError} If the text is not JSON.
 * @throws {TypeError} If the JSON is not a version 1 state.
 */
function parseWebhookState(text: string, path: string): WebhookState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`Cannot read webhook state: ${path} is not JSON`, { cause: error });
  }
  const state = value as { version?: unknown; webhooks?: unknown };
  if (typeof state?.version === "number" && state.version > 1) {
    throw new NewerJsonFileError(path, state.version, 1, "webhook state");
  }
  if (typeof value !== "object" || value === null || state.version !== 1) {
    throw new TypeError(`Cannot read webhook state: ${path} is not a version 1 state file`);
  }
  if (!Array.isArray(state.webhooks) || !state.webhooks.every(isEntry)) {
    throw new TypeError(
      `Cannot read webhook state: ${path} has a "webhooks" entry without id, url, secretKey or createdAt`,
    );
  }
  return { version: 1, webhooks: state.webhooks.map((entry) => ({ ...entry })) };
}

/**
 * Reads the state file. A missing file is an empty state.
 *
 * @param dataDir The data directory (`DATA_DIR`).
 * @returns The state; `{ version: 1, webhooks: [] }` when the file does not exist.
 * @throws {SyntaxError} If the file is not JSON.
 * @throws {TypeError} If the file is not a version 1 state.
 * @throws {Deno.errors.PermissionDenied} If the file cannot be read.
 *
 * @example
 * ```ts
 * import { readWebhookState } from "./webhook_state.ts";
 * const dir = await Deno.makeTempDir();
 * const state = await readWebhookState(dir);
 * if (state.webhooks.length !== 0) throw new Error("unexpected");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readWebhookState(dataDir: string): Promise<WebhookState> {
  const path = webhookStatePath(dataDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, webhooks: [] };
    throw error;
  }
  return parseWebhookState(text, path);
}

/**
 * Writes the state file atomically with mode 0600: a temporary file in the same directory,
 * created 0600, flushed, then renamed over the old one. Creates the directory if needed.
 *
 * @param dataDir The data directory (`DATA_DIR`).
 * @param state The whole state to write.
 * @throws {TypeError} If the state is not a valid version 1 state.
 * @throws {Deno.errors.PermissionDenied} If the directory cannot be written.
 *
 * @example
 * ```ts
 * import { readWebhookState, writeWebhookState } from "./webhook_state.ts";
 * const dir = await Deno.makeTempDir();
 * await writeWebhookState(dir, { version: 1, webhooks: [] });
 * if ((await readWebhookState(dir)).version !== 1) throw new Error("unexpected");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeWebhookState(dataDir: string, state: WebhookState): Promise<void> {
  const path = webhookStatePath(dataDir);
  const text = JSON.stringify(state, null, 2) + "\n";
  parseWebhookState(text, path);
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    try {
      await file.write(new TextEncoder().encode(text));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.chmod(temporary, 0o600);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/**
 * The signing secrets of every webhook in the state, newest first (deduplicated).
 *
 * @param state A state read by {@linkcode readWebhookState}.
 * @returns The secrets to accept beside `UP_WEBHOOK_SECRETS`.
 *
 * @example
 * ```ts
 * import { webhookSecretsFrom } from "./webhook_state.ts";
 * const secrets = webhookSecretsFrom({
 *   version: 1,
 *   webhooks: [{ id: "a", url: "https://x.test/webhook", description: null, secretKey: "s1", createdAt: "2024-08-06T12:19:01+10:00" }],
 * });
 * if (secrets[0] !== "s1") throw new Error("unexpected");
 * ```
 */
export function webhookSecretsFrom(state: WebhookState): string[] {
  const secrets: string[] = [];
  for (const entry of [...state.webhooks].reverse()) {
    if (!secrets.includes(entry.secretKey)) secrets.push(entry.secretKey);
  }
  return secrets;
}

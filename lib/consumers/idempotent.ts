/**
 * @module Idempotent handlers
 * Makes a handler idempotent per key: it remembers, in a small SQLite file, the last version
 * (by default the offset) and the digest of the value handled for each key, and skips a record
 * it has already handled, as at-least-once delivery redelivers after a crash or a rebalance, and
 * a record that repeats the key's last value at a later offset (a duplicate the pipeline wrote
 * twice after a kill -9: same transaction, same state).
 */
import { openVersioned, type VersionedSchema } from "../runtime/versioned_db.ts";
import type { ConsumerMessage } from "../bus/consumer.ts";

/** A consumer's state file's formats (`DATA_DIR/consumers/<name>.db`), oldest first. */
export const CONSUMER_STATE_SCHEMA: VersionedSchema = {
  name: "consumer state",
  migrations: [
    {
      version: 1,
      description: "the version handled per key",
      up: (db) =>
        db.exec(
          "CREATE TABLE IF NOT EXISTS handled (key TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT",
        ),
    },
    {
      version: 2,
      description: "the digest of the value handled last per key, so a repeated state is skipped",
      up: (db) => db.exec("ALTER TABLE handled ADD COLUMN digest TEXT"),
    },
  ],
};

/** The value's SHA-256 in hex; a tombstone's is `tombstone`. */
async function digestOf(value: Uint8Array | null): Promise<string> {
  if (value === null) return "tombstone";
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", value as Uint8Array<ArrayBuffer>),
  );
  return Array.from(hash, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Options for {@linkcode idempotent}. */
export interface IdempotentOptions {
  /** The SQLite file that remembers handled versions, e.g. `DATA_DIR/consumers/ledger.db`. */
  path: string;
  /**
   * The version of a record: one with a version at most the last handled one for its key is
   * skipped. Default the offset, which grows within a key's partition.
   */
  version?: (message: ConsumerMessage) => number;
}

/** A handler wrapped by {@linkcode idempotent}. */
export interface IdempotentHandler {
  /** Handles a record unless its key has been handled at this version or a later one. */
  (message: ConsumerMessage): Promise<void>;
  /** Records skipped as already handled. */
  readonly skipped: number;
  /** Closes the SQLite file. */
  close(): void;
}

/**
 * Wraps a handler so that each (key, version) is handled once, across restarts. The version is
 * remembered after the handler resolves: a crash in between handles the record once more, so a
 * handler with outside effects should still make its own write idempotent where it can.
 *
 * @param handler The handler.
 * @param options The SQLite file and the version of a record.
 * @returns The wrapped handler, with `close()`.
 *
 * @example
 * ```ts
 * import { idempotent } from "./idempotent.ts";
 * const dir = await Deno.makeTempDir();
 * const seen: string[] = [];
 * const handle = idempotent((message) => {
 *   seen.push(message.offset);
 * }, { path: `${dir}/seen.db` });
 * const message = { topic: "t", partition: 0, offset: "7", key: "tx", value: null, headers: {}, timestamp: "0" };
 * await handle(message);
 * await handle(message);
 * handle.close();
 * if (seen.length !== 1) throw new Error("unexpected");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function idempotent(
  handler: (message: ConsumerMessage) => void | Promise<void>,
  options: IdempotentOptions,
): IdempotentHandler {
  const db = openVersioned(options.path, CONSUMER_STATE_SCHEMA);
  const read = db.prepare("SELECT version, digest FROM handled WHERE key = ?");
  const write = db.prepare(
    `INSERT INTO handled (key, version, digest) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET version = excluded.version, digest = excluded.digest`,
  );
  const versionOf = options.version ?? ((message: ConsumerMessage) => Number(message.offset));
  let skipped = 0;
  const wrapped = async function handleOnce(message: ConsumerMessage): Promise<void> {
    const key = message.key ?? `${message.topic}/${message.partition}/${message.offset}`;
    const version = versionOf(message);
    const digest = await digestOf(message.value);
    const last = read.get(key) as { version: number; digest: string | null } | undefined;
    if (last !== undefined && (version <= last.version || digest === last.digest)) {
      // A repeat at a later offset moves the key's version on, so what follows compares to it.
      if (version > last.version) write.run(key, version, digest);
      skipped++;
      return;
    }
    await handler(message);
    write.run(key, version, digest);
  } as IdempotentHandler;
  Object.defineProperty(wrapped, "skipped", { get: () => skipped });
  wrapped.close = () => db.close();
  return wrapped;
}

/**
 * `upbus data backup PATH` and `upbus data status`: a consistent copy of every file in the data
 * directory while the service runs, and what each file holds.
 *
 * A backup copies each SQLite database with SQLite's online backup API (a consistent snapshot
 * even while the service commits; no stop needed, no torn file) and every other file (JSON state,
 * the ledger's files) whole, each written owner-only into a directory that did not exist, so a
 * backup never mixes with an older one. The copy is a data directory: point `DATA_DIR` at it (or
 * copy it to a new SD card) and every command starts on it.
 *
 * @module
 */
import { backup as backupDatabase, DatabaseSync } from "node:sqlite";
import { parseFlags } from "./args.ts";
import { type Command, UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";
import { LOCAL_LOG_SCHEMA } from "../bus/local/local_log.ts";
import { CONSUMER_STATE_SCHEMA } from "../consumers/idempotent.ts";
import { MQTT_STATE_SCHEMA } from "../consumers/mqtt/state_store.ts";
import {
  TRANSACTION_STATES_FILE,
  TRANSACTION_STATES_SCHEMA,
} from "../bus/kafka/transaction_states.ts";
import { OUTBOX_SCHEMA } from "../consumers/notify/outbox.ts";
import { latestVersion, type VersionedSchema } from "../runtime/versioned_db.ts";
import { countEventsAnyVersion } from "../store/queries.ts";
import { EVENT_STORE_SCHEMA } from "../store/schema.ts";

const USAGE = `Usage: upbus data backup PATH
       upbus data status [--json]

  backup PATH  writes a consistent copy of every file in DATA_DIR (./data) into PATH, a
               directory that must not exist yet; safe while the service and the consumers run.
               Restore: stop upbus, move the data directory away, put the copy in its place.
  status       each file of DATA_DIR with its format version, events stored and not yet
               published to Kafka, and each consumer's position and lag in the local log.

Environment: DATA_DIR. docs/operations.md says how to upgrade, roll back, back up on a schedule
and restore on a new SD card.`;

/** One file of the data directory, as `status` reports it. */
export interface DataFile {
  /** Its path relative to the data directory. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** Its format version (0: written before versions), or `null` for a file without one. */
  version: number | null;
  /** The version this upbus writes, when it knows the file. */
  latest: number | null;
}

/** The format each known SQLite file of the data directory has, by its path there. */
function schemaOf(path: string): VersionedSchema | undefined {
  if (path === "events.db") return EVENT_STORE_SCHEMA;
  if (path === "pipeline.db") return LOCAL_LOG_SCHEMA;
  if (path === "notify/state.db") return OUTBOX_SCHEMA;
  if (/^consumers\/[^/]+\.db$/.test(path)) return CONSUMER_STATE_SCHEMA;
  if (/^mqtt\/state(\.local)?\.db$/.test(path)) return MQTT_STATE_SCHEMA;
  if (path === TRANSACTION_STATES_FILE) return TRANSACTION_STATES_SCHEMA;
  return undefined;
}

/** Every file under `dir` (relative paths), SQLite's -wal, -shm and temporary files left out. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) found.push(...await listFiles(dir, path));
    else if (entry.isFile && !/(-wal|-shm|-journal|\.tmp)$/.test(entry.name)) found.push(path);
  }
  return found.sort();
}

function isSqlite(path: string): boolean {
  const file = Deno.openSync(path);
  try {
    const head = new Uint8Array(16);
    const read = file.readSync(head) ?? 0;
    return read === 16 && new TextDecoder().decode(head) === "SQLite format 3\0";
  } finally {
    file.close();
  }
}

function readOnly<T>(path: string, body: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly: true, timeout: 5000 });
  try {
    return body(db);
  } finally {
    db.close();
  }
}

/**
 * Describes every file of a data directory.
 *
 * @param dataDir The data directory.
 * @returns Each file with its version.
 */
export async function describeFiles(dataDir: string): Promise<DataFile[]> {
  const files: DataFile[] = [];
  for (const path of await listFiles(dataDir)) {
    const full = `${dataDir}/${path}`;
    const bytes = (await Deno.stat(full)).size;
    let version: number | null = null;
    if (isSqlite(full)) {
      version = readOnly(
        full,
        (db) => (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      );
    } else if (path.endsWith(".json")) {
      try {
        const value = JSON.parse(await Deno.readTextFile(full));
        version = typeof value?.version === "number" ? value.version : 1;
      } catch {
        version = null;
      }
    }
    const schema = schemaOf(path);
    files.push({ path, bytes, version, latest: schema ? latestVersion(schema) : null });
  }
  return files;
}

/**
 * Copies every file of `dataDir` into `target` (which must not exist): databases through
 * SQLite's online backup, the rest whole; everything owner-only.
 *
 * @param dataDir The data directory.
 * @param target The new directory.
 * @returns The files copied, relative to the data directory.
 * @throws {Deno.errors.AlreadyExists} If `target` exists.
 */
export async function backupDataDir(dataDir: string, target: string): Promise<string[]> {
  await Deno.mkdir(target, { mode: 0o700 });
  const copied: string[] = [];
  for (const path of await listFiles(dataDir)) {
    const from = `${dataDir}/${path}`;
    const to = `${target}/${path}`;
    const dir = to.slice(0, to.lastIndexOf("/"));
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    if (isSqlite(from)) {
      const source = new DatabaseSync(from, { timeout: 5000 });
      try {
        await backupDatabase(source, to);
      } finally {
        source.close();
      }
    } else {
      await Deno.copyFile(from, to);
    }
    await Deno.chmod(to, 0o600);
    copied.push(path);
  }
  return copied;
}

function tableExists(db: DatabaseSync, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined;
}

/** Creates `upbus data`, with the outside world replaceable (tests). */
export function createDataCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "data",
    summary: "back up the data directory while upbus runs, or show what it holds",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const { values, positionals } = parseFlags(args, { json: { type: "boolean" } }, {
        positionals: true,
      });
      const dataDir = (context.env("DATA_DIR") || "./data").replace(/\/+$/, "");
      const [verb, target, ...rest] = positionals;
      if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
      try {
        await Deno.stat(dataDir);
      } catch {
        context.err(`upbus data: ${dataDir} does not exist: set DATA_DIR to your data directory`);
        return 1;
      }
      if (verb === "backup") {
        if (!target) throw new UsageError("backup needs the directory to write: data backup PATH");
        try {
          await Deno.stat(target);
          context.err(
            `upbus data: ${target} exists already; name a new directory (a backup never mixes with another)`,
          );
          return 1;
        } catch { /* good: it does not exist */ }
        const copied = await backupDataDir(dataDir, target);
        context.out(`copied ${copied.length} files of ${dataDir} to ${target}`);
        return 0;
      }
      if (verb !== "status") {
        throw new UsageError(`expected backup or status, got ${verb ?? "nothing"}`);
      }
      const files = await describeFiles(dataDir);
      const events = files.some((file) => file.path === "events.db")
        ? readOnly(`${dataDir}/events.db`, (db) => {
          // Before version 3 from each row's publish mark, since then from the relay's mark.
          const { total, unpublished } = countEventsAnyVersion(db);
          return { stored: total, unpublished, last: total };
        })
        : null;
      const positions = files.some((file) => file.path === "pipeline.db")
        ? readOnly(`${dataDir}/pipeline.db`, (db) => {
          if (!tableExists(db, "committed")) return [];
          const rows = db.prepare(
            "SELECT group_id, source, next_offset FROM committed ORDER BY 1, 2",
          )
            .all() as { group_id: string; source: string; next_offset: number }[];
          const end = db.prepare(
            "SELECT coalesce(max(record_offset) + 1, 0) AS n FROM records WHERE topic = ?",
          );
          return rows.map((row) => {
            const last = row.source === "events.db"
              ? (events?.last ?? 0)
              : (end.get(row.source) as { n: number }).n;
            return {
              group: row.group_id,
              source: row.source,
              position: row.next_offset,
              lag: Math.max(0, last - row.next_offset),
            };
          });
        })
        : [];
      if (values.json) {
        context.out(JSON.stringify({ dataDir, files, events, positions }, null, 2));
        return 0;
      }
      context.out(`${dataDir}`);
      for (const file of files) {
        const version = file.version === null
          ? ""
          : `version ${file.version}${
            file.latest !== null && file.version < file.latest ? ` (opens as ${file.latest})` : ""
          }`;
        context.out(`  ${file.path.padEnd(36)} ${String(file.bytes).padStart(10)} B  ${version}`);
      }
      if (events) {
        context.out(
          `events: ${events.stored} stored, ${events.unpublished} not yet published to Kafka (embedded mode publishes none: enrich reads events.db)`,
        );
      }
      for (const position of positions) {
        context.out(
          `  ${position.group} reads ${position.source} at ${position.position}, ${position.lag} behind`,
        );
      }
      return 0;
    },
  };
}

/** `upbus data`. */
export const dataCommand: Command = createDataCommand();

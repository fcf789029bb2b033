/**
 * @module Local log
 * The pipeline's topics in embedded mode (no Kafka): an append-only log per topic in one SQLite
 * file, `DATA_DIR/pipeline.db` (WAL, synchronous commits), with each record's offset, key, value
 * (`NULL` for a tombstone), headers and timestamp, and the committed offsets of each consumer
 * group. Several processes share the file: the enricher appends, consumers read and commit.
 * Records are never compacted away: a reader that wants each key's latest state keeps the last
 * record of each key, as a reader of a compacted Kafka topic does.
 *
 * A consumer group is read by one process at a time, as a Kafka group's partition is: the reader
 * holds a lease on (group, source) that it renews while it runs and releases when it stops; a
 * process that died loses it once it expires. A commit by an open log that does not hold the
 * group's lease is refused ({@linkcode LeaseLostError}), and a commit never moves a cursor back.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { ConsumerMessage } from "../consumer.ts";
import { openVersioned, type VersionedSchema } from "../../runtime/versioned_db.ts";
import { announceWrite } from "../../runtime/wake.ts";

/** The local log's file name under `DATA_DIR`. */
export const LOCAL_LOG_FILE = "pipeline.db";

/** A record to append: what `producer.send` would take. */
export interface LocalRecord {
  /** The key, e.g. the transaction id. */
  key: string | null;
  /** The value; `null` for a tombstone. */
  value: string | Uint8Array | null;
  /** Headers. Default none. */
  headers?: Record<string, string>;
}

/** Options for {@linkcode LocalLog.append}. */
export interface LocalAppendOptions {
  /** A group's offset to commit in the same transaction as the records. Default none. */
  commit?: { group: string; source: string; offset: number };
  /**
   * Whether a record may be appended over its key's latest record in the topic (`undefined` when
   * the key has none), asked inside the append's write transaction, so that two writers racing
   * cannot both win; a record it refuses is skipped (the commit is still made). Default: every
   * record is appended.
   */
  supersedes?: (next: LocalRecord, last: LocalRecord | undefined) => boolean;
}

/** Options for {@linkcode LocalLog.read}. */
export interface LocalReadOptions {
  /** The first offset to read. Default 0. */
  from?: number;
  /** The most records to return. Default 100. */
  limit?: number;
}

/** Version 1: the records of every topic and each group's committed position per source. */
const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS records (
  topic TEXT NOT NULL,
  record_offset INTEGER NOT NULL,
  key TEXT,
  value BLOB,
  headers TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (topic, record_offset)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS committed (
  group_id TEXT NOT NULL,
  source TEXT NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (group_id, source)
) STRICT;
`;

/** Version 2: who reads each (group, source) now, until when (epoch ms). */
const SCHEMA_V2 = `
CREATE TABLE leases (
  group_id TEXT NOT NULL,
  source TEXT NOT NULL,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (group_id, source)
) STRICT;
`;

/**
 * A key's latest record in a topic, for the state check of an append (parameters: topic, topic,
 * key): the key's highest offset from the index by key, then that record by primary key. With
 * `ORDER BY record_offset DESC LIMIT 1` instead, SQLite scans the whole topic by primary key
 * (tests/bus/local/append_state_test.ts checks the plan).
 */
export const LATEST_OF_KEY: string = `SELECT value FROM records WHERE topic = ? AND record_offset =
  (SELECT max(record_offset) FROM records WHERE topic = ? AND key = ?)`;

/** Version 3: a key's latest record in a topic found without a scan (a sink's state check). */
const SCHEMA_V3 = `
CREATE INDEX records_by_key ON records (topic, key);
`;

/** `DATA_DIR/pipeline.db`'s formats, oldest first. Append a step for every change of shape. */
export const LOCAL_LOG_SCHEMA: VersionedSchema = {
  name: "local log",
  migrations: [
    { version: 1, description: "records and committed positions", up: (db) => db.exec(SCHEMA_V1) },
    {
      version: 2,
      description: "a lease per consumer group, so one process reads a group at a time",
      up: (db) => db.exec(SCHEMA_V2),
    },
    {
      version: 3,
      description: "an index of records by key, for the state check of each append",
      up: (db) => db.exec(SCHEMA_V3),
    },
  ],
};

/** Who holds a group's lease, as {@linkcode LocalLog.acquire} reports it when it is taken. */
export interface LeaseHolder {
  /** The holder's owner id: `<hostname>:<pid>:<random>`. */
  owner: string;
  /** When its lease ends unless renewed, epoch ms. */
  expiresAt: number;
}

/** A commit refused because this process no longer holds the group's lease. */
export class LeaseLostError extends Error {
  /** The group whose lease is held elsewhere. */
  readonly group: string;
  /** The process that holds it now, or `null` when nobody does. */
  readonly holder: string | null;

  /**
   * Makes the error of a commit refused for want of the lease.
   *
   * @param group The consumer group.
   * @param source What it reads.
   * @param holder Who holds the lease now.
   */
  constructor(group: string, source: string, holder: string | null) {
    super(
      `Cannot commit ${group}'s position in ${source}: ${
        holder === null
          ? "this process's lease expired"
          : `another process (${holder}) reads it now`
      }`,
    );
    this.name = "LeaseLostError";
    this.group = group;
    this.holder = holder;
  }
}

interface RecordRow {
  offset: number;
  key: string | null;
  value: Uint8Array | null;
  headers: string;
  timestamp: number;
}

/** The local log. Open it with {@linkcode openLocalLog}; close it on shutdown. */
export class LocalLog {
  #db: DatabaseSync;
  #now: () => number;
  #path: string;
  #owner: string;
  #dataVersion: StatementSync | undefined;

  /** Use {@linkcode openLocalLog}. */
  constructor(db: DatabaseSync, path: string, now: () => number, owner?: string) {
    this.#db = db;
    this.#path = path;
    this.#now = now;
    this.#owner = owner ?? defaultOwner();
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  /**
   * A number that changes each time another connection (another process) commits to the file:
   * SQLite's `PRAGMA data_version`, read from shared memory, so it costs microseconds. Writes on
   * this connection do not change it; they are announced in the process instead.
   */
  dataVersion(): number {
    this.#dataVersion ??= this.#db.prepare("PRAGMA data_version");
    return (this.#dataVersion.get() as { data_version: number }).data_version;
  }

  /** This open log's owner id in leases: `<hostname>:<pid>:<random>`. */
  get owner(): string {
    return this.#owner;
  }

  /**
   * Appends records to a topic in one transaction, durably.
   *
   * @param topic The topic.
   * @param records The records, in order.
   * @param options `commit`: an offset committed in the same transaction, so that a reader
   * that writes what it read is never handed the same input again after a crash; `supersedes`:
   * which records may go over their key's latest one.
   * @returns The offset of each record, `null` for one `supersedes` skipped.
   */
  append(
    topic: string,
    records: LocalRecord[],
    options: LocalAppendOptions = {},
  ): Array<number | null> {
    const { commit, supersedes } = options;
    if (records.length === 0 && commit === undefined) return [];
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      let next = this.#end(topic);
      const insert = db.prepare(
        "INSERT INTO records (topic, record_offset, key, value, headers, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
      );
      const latest = db.prepare(LATEST_OF_KEY);
      // The latest record of each key this call appended, ahead of what the file holds.
      const appended = new Map<string | null, LocalRecord>();
      const timestamp = this.#now();
      const offsets = records.map((record) => {
        if (supersedes !== undefined) {
          let last = appended.get(record.key);
          if (last === undefined && record.key !== null) {
            const row = latest.get(topic, topic, record.key) as
              | { value: Uint8Array | null }
              | undefined;
            if (row !== undefined) last = { key: record.key, value: row.value };
          }
          if (!supersedes(record, last)) return null;
        }
        const value = typeof record.value === "string"
          ? new TextEncoder().encode(record.value)
          : record.value;
        insert.run(
          topic,
          next,
          record.key,
          value,
          JSON.stringify(record.headers ?? {}),
          timestamp,
        );
        appended.set(record.key, record);
        return next++;
      });
      if (commit !== undefined) this.#commit(commit.group, commit.source, commit.offset);
      db.exec("COMMIT");
      if (appended.size > 0) announceWrite(this.#path);
      return offsets;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Reads a topic's records in offset order, as consumers receive them (partition 0).
   *
   * @param topic The topic.
   * @param options The first offset and the most records.
   * @returns The records from `from` on; empty at the end of the topic.
   */
  read(topic: string, options: LocalReadOptions = {}): ConsumerMessage[] {
    const rows = this.#db.prepare(
      `SELECT record_offset AS offset, key, value, headers, timestamp FROM records
       WHERE topic = ? AND record_offset >= ? ORDER BY record_offset LIMIT ?`,
    ).all(topic, options.from ?? 0, options.limit ?? 100) as unknown as RecordRow[];
    return rows.map((row) => ({
      topic,
      partition: 0,
      offset: String(row.offset),
      key: row.key,
      value: row.value === null ? null : new Uint8Array(row.value),
      headers: JSON.parse(row.headers),
      timestamp: String(row.timestamp),
    }));
  }

  /**
   * The offset the next record of a topic will get: its count of records.
   *
   * @param topic The topic.
   * @returns The end offset; 0 for a topic with no record.
   */
  end(topic: string): number {
    return this.#end(topic);
  }

  #end(topic: string): number {
    const row = this.#db.prepare(
      "SELECT coalesce(max(record_offset) + 1, 0) AS next FROM records WHERE topic = ?",
    ).get(topic) as { next: number };
    return row.next;
  }

  /**
   * The offset a consumer group committed for a source: the next one it will read.
   *
   * @param group The consumer group, e.g. `upbus-ledger`.
   * @param source What it reads: a topic, or `events.db` for the enricher.
   * @returns The committed offset, or `null` when the group has committed none.
   */
  committed(group: string, source: string): number | null {
    const row = this.#db.prepare(
      "SELECT next_offset AS offset FROM committed WHERE group_id = ? AND source = ?",
    ).get(group, source) as { offset: number } | undefined;
    return row?.offset ?? null;
  }

  /**
   * Commits a consumer group's offset for a source, durably. A cursor never moves back: an
   * offset below the committed one changes nothing.
   *
   * @param group The consumer group.
   * @param source What it reads.
   * @param offset The next offset to read.
   * @throws {LeaseLostError} If another process holds the group's lease (nothing is written).
   */
  commit(group: string, source: string, offset: number): void {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      this.#commit(group, source, offset);
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }

  /** The commit, inside the caller's transaction. */
  #commit(group: string, source: string, offset: number): void {
    const lease = this.#lease(group, source);
    // A group nobody leases (a tool, or a reader from before leases) commits as before.
    if (lease !== undefined && lease.owner !== this.#owner) {
      throw new LeaseLostError(group, source, lease.owner);
    }
    this.#db.prepare(
      `INSERT INTO committed (group_id, source, next_offset) VALUES (?, ?, ?)
       ON CONFLICT (group_id, source) DO UPDATE SET next_offset = max(next_offset, excluded.next_offset)`,
    ).run(group, source, offset);
  }

  #lease(group: string, source: string): LeaseHolder | undefined {
    return this.#db.prepare(
      "SELECT owner, expires_at AS expiresAt FROM leases WHERE group_id = ? AND source = ?",
    ).get(group, source) as LeaseHolder | undefined;
  }

  /**
   * Moves a group's position to `offset`, back as well as forward: what a person asks for to read
   * a topic again. Refused while another process reads the group.
   *
   * @param group The consumer group.
   * @param source What it reads.
   * @param offset The next offset to read.
   * @throws {LeaseLostError} If another process holds the group's lease now.
   */
  resetPosition(group: string, source: string, offset: number): void {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const lease = this.#lease(group, source);
      if (lease !== undefined && lease.owner !== this.#owner && lease.expiresAt > this.#now()) {
        throw new LeaseLostError(group, source, lease.owner);
      }
      db.prepare(
        `INSERT INTO committed (group_id, source, next_offset) VALUES (?, ?, ?)
         ON CONFLICT (group_id, source) DO UPDATE SET next_offset = excluded.next_offset`,
      ).run(group, source, offset);
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Takes or renews this log's lease on a group's source for `ttlMs`: it succeeds when nobody
   * holds it, when it is this log's, or when its holder let it expire (a process that died).
   *
   * @param group The consumer group.
   * @param source What it reads.
   * @param ttlMs How long the lease lasts unless renewed.
   * @returns `null` when this log holds the lease now, else who holds it.
   */
  acquire(group: string, source: string, ttlMs: number): LeaseHolder | null {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const now = this.#now();
      const lease = this.#lease(group, source);
      if (lease !== undefined && lease.owner !== this.#owner && lease.expiresAt > now) {
        db.exec("COMMIT");
        return lease;
      }
      db.prepare(
        `INSERT INTO leases (group_id, source, owner, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (group_id, source) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
      ).run(group, source, this.#owner, now + ttlMs);
      db.exec("COMMIT");
      return null;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Gives up this log's lease on a group's source, so another process takes over at once.
   *
   * @param group The consumer group.
   * @param source What it reads.
   */
  release(group: string, source: string): void {
    this.#db.prepare("DELETE FROM leases WHERE group_id = ? AND source = ? AND owner = ?")
      .run(group, source, this.#owner);
  }

  /** Closes the connection. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Options for {@linkcode openLocalLog}. */
export interface LocalLogOptions {
  /** The clock of record timestamps and leases, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** This open log's owner id in leases. Default `<hostname>:<pid>:<random>`. */
  owner?: string;
}

/** `<hostname>:<pid>:<random>`: who holds a lease, readable in a log line. */
function defaultOwner(): string {
  // Without the hostname grant (never prompted for) the pid and the random part still tell
  // processes apart.
  const granted = Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted";
  const host = granted ? Deno.hostname() : "localhost";
  return `${host}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Opens (and creates, owner-only) the local log at `DATA_DIR/pipeline.db`.
 *
 * @param dataDir The data directory; created when missing.
 * @param options The clock of record timestamps.
 * @returns The open log; close it on shutdown.
 * @throws {Deno.errors.PermissionDenied} If the directory cannot be written.
 *
 * @example
 * ```ts
 * import { openLocalLog } from "./local_log.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await openLocalLog(dir);
 * log.append("up.transactions", [{ key: "tx-1", value: '{"a":1}' }, { key: "tx-1", value: null }]);
 * const [first, tombstone] = log.read("up.transactions", { from: 0 });
 * if (first.offset !== "0" || tombstone.value !== null) throw new Error("unexpected");
 * log.commit("upbus-ledger", "up.transactions", 2);
 * if (log.committed("upbus-ledger", "up.transactions") !== 2) throw new Error("unexpected");
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openLocalLog(
  dataDir: string,
  options: LocalLogOptions = {},
): Promise<LocalLog> {
  // Opening is synchronous (node:sqlite); the promise keeps callers free of that detail.
  const path = `${dataDir.replace(/\/+$/, "")}/${LOCAL_LOG_FILE}`;
  let db: DatabaseSync;
  try {
    // Other processes share the file, and may be creating or migrating it at this very moment.
    db = openVersioned(path, LOCAL_LOG_SCHEMA, { synchronous: "FULL" });
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.resolve(new LocalLog(db, path, options.now ?? Date.now, options.owner));
}

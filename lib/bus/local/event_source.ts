/**
 * @module Event store source
 * The event store (`DATA_DIR/events.db`) read as a source of webhook events, for the enricher in
 * embedded mode: a read-only connection of its own, events in `seq` order (rows are never
 * deleted, so `seq` is a stable offset), each as the record the relay would have published.
 * The file may not exist yet when the enricher starts before the service: it reads nothing
 * until it does.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { openVersionedReader } from "../../runtime/versioned_db.ts";
import { EVENT_STORE_SCHEMA } from "../../store/schema.ts";
import type { ConsumerMessage } from "../consumer.ts";
import type { OffsetReader } from "./local_log_source.ts";
import { ORIGIN_HEADER } from "../record.ts";

/** The source's name in the committed offsets. */
export const EVENT_STORE_SOURCE = "events.db";

/** A {@linkcode OffsetReader} over the event store, with `close()`. */
export interface EventStoreSource extends OffsetReader {
  /** Closes the connection. */
  close(): void;
}

interface EventRow {
  seq: number;
  event_id: string;
  transaction_id: string | null;
  invalid_reason: string | null;
  body: Uint8Array;
  received_at: string;
  origin: string | null;
}

/**
 * Reads the event store as a source. A dead letter (a body that is not a valid event) comes with
 * a `null` value, so the enricher counts it ignored.
 *
 * @param path The event store's file, `DATA_DIR/events.db`.
 * @returns The source; close it on shutdown.
 *
 * @example
 * ```ts
 * import { eventStoreSource } from "./event_source.ts";
 * const dir = await Deno.makeTempDir();
 * const source = eventStoreSource(`${dir}/events.db`);
 * if (source.read(0, 10).length !== 0) throw new Error("no store yet: nothing to read");
 * source.close();
 * await Deno.remove(dir);
 * ```
 */
export function eventStoreSource(path: string): EventStoreSource {
  let db: DatabaseSync | undefined;
  let dataVersion: StatementSync | undefined;
  /** `origin`, or `NULL` on a store the service has not migrated yet (version 1). */
  let originColumn = "NULL";

  function connection(): DatabaseSync | undefined {
    if (db !== undefined) return db;
    try {
      Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    db = openVersionedReader(path, EVENT_STORE_SCHEMA);
    const columns = db.prepare("PRAGMA table_info(events)").all() as { name: string }[];
    originColumn = columns.some((column) => column.name === "origin") ? "origin" : "NULL";
    return db;
  }

  return {
    name: EVENT_STORE_SOURCE,
    path,
    changes(): number {
      // -1 until the service created the file: its first commit then reads as a change.
      const conn = connection();
      if (conn === undefined) return -1;
      dataVersion ??= conn.prepare("PRAGMA data_version");
      return (dataVersion.get() as { data_version: number }).data_version;
    },
    read(from: number, limit: number): ConsumerMessage[] {
      const conn = connection();
      if (conn === undefined) return [];
      const rows = conn.prepare(
        `SELECT seq, event_id, transaction_id, invalid_reason, body, received_at,
           ${originColumn} AS origin FROM events
         WHERE seq >= ? ORDER BY seq LIMIT ?`,
      ).all(from, limit) as unknown as EventRow[];
      return rows.map((row) => ({
        topic: EVENT_STORE_SOURCE,
        partition: 0,
        offset: String(row.seq),
        key: row.transaction_id ?? row.event_id,
        value: row.invalid_reason === null ? new Uint8Array(row.body) : null,
        headers: row.origin === null
          ? { ce_id: row.event_id }
          : { ce_id: row.event_id, [ORIGIN_HEADER]: row.origin } as Record<string, string>,
        timestamp: String(Date.parse(row.received_at)),
      }));
    },
    end(): number {
      const conn = connection();
      if (conn === undefined) return 0;
      const row = conn.prepare("SELECT coalesce(max(seq), 0) + 1 AS next FROM events").get() as {
        next: number;
      };
      return row.next;
    },
    close() {
      if (db?.isOpen) db.close();
      db = undefined;
      dataVersion = undefined;
    },
  };
}

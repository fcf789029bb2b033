/**
 * The event store's writer, in a worker so that fsyncs never block the HTTP event loop. It owns
 * the one write connection and commits each batch it is sent in one transaction (group commit).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type MigrationReport, openVersioned } from "../runtime/versioned_db.ts";
import { inTransaction } from "./queries.ts";
import { EVENT_STORE_SCHEMA } from "./schema.ts";
import type { AppendOutcome, NewEvent } from "./types.ts";

/** A request to the writer; `id` pairs it with its reply. */
export type WriterRequest =
  | { id: number; op: "open"; path: string }
  | { id: number; op: "append"; events: NewEvent[] }
  | { id: number; op: "probe"; at: string }
  | { id: number; op: "close" };

/** The writer's reply: a result, or the message of the error that stopped it. */
export type WriterReply =
  | { id: number; ok: true; outcomes?: AppendOutcome[]; migration?: MigrationReport }
  | { id: number; ok: false; error: string; code?: string };

let db: DatabaseSync | undefined;
/** The INSERT, prepared once per connection rather than once per commit. */
let insert: StatementSync | undefined;

function open(path: string): MigrationReport {
  let migration: MigrationReport | undefined;
  db = openVersioned(path, EVENT_STORE_SCHEMA, {
    synchronous: "FULL",
    onMigrated: ({ from, to, backup }) => migration = { from, to, backup },
  });
  insert = db.prepare(
    `INSERT INTO events (event_id, type, webhook_id, transaction_id, created_at,
       invalid_reason, body, signature, received_at, origin)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (event_id) DO NOTHING`,
  );
  const to = EVENT_STORE_SCHEMA.migrations.length;
  return migration ?? { from: to, to };
}

function connection(): DatabaseSync {
  if (db === undefined) throw new Error("Cannot write: the store is not open");
  return db;
}

function append(events: NewEvent[]): AppendOutcome[] {
  const conn = connection();
  const statement = insert!;
  return inTransaction(conn, () => {
    return events.map((event) => {
      const { changes } = statement.run(
        event.eventId,
        event.type ?? null,
        event.webhookId ?? null,
        event.transactionId ?? null,
        event.createdAt ?? null,
        event.invalidReason ?? null,
        event.body,
        event.signature,
        event.receivedAt,
        event.origin ?? null,
      );
      return changes === 1 ? "stored" : "duplicate";
    });
  });
}

function handle(request: WriterRequest): WriterReply {
  switch (request.op) {
    case "open":
      return { id: request.id, ok: true, migration: open(request.path) };
    case "append":
      return { id: request.id, ok: true, outcomes: append(request.events) };
    case "probe": {
      const conn = connection();
      inTransaction(
        conn,
        () =>
          conn.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('probed_at', ?)")
            .run(request.at),
      );
      return { id: request.id, ok: true };
    }
    case "close":
      insert = undefined;
      db?.close();
      db = undefined;
      return { id: request.id, ok: true };
  }
}

self.onmessage = (message: MessageEvent<WriterRequest>) => {
  const request = message.data;
  let reply: WriterReply;
  try {
    reply = handle(request);
  } catch (error) {
    const { message, code } = error as Error & { code?: string; errstr?: string };
    reply = { id: request.id, ok: false, error: message, code };
  }
  self.postMessage(reply);
};

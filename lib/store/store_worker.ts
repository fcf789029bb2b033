/**
 * The event store's writer, in a worker so that fsyncs never block the HTTP event loop. It owns
 * the one write connection and commits each batch it is sent in one transaction (group commit).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { DatabaseSync } from "node:sqlite";
import { SCHEMA } from "./schema.ts";
import type { AppendOutcome, NewEvent } from "./types.ts";

/** A request to the writer; `id` pairs it with its reply. */
export type WriterRequest =
  | { id: number; op: "open"; path: string }
  | { id: number; op: "append"; events: NewEvent[] }
  | { id: number; op: "published"; seqs: number[]; at: string }
  | { id: number; op: "failed"; seqs: number[] }
  | { id: number; op: "probe"; at: string }
  | { id: number; op: "close" };

/** The writer's reply: a result, or the message of the error that stopped it. */
export type WriterReply =
  | { id: number; ok: true; outcomes?: AppendOutcome[] }
  | { id: number; ok: false; error: string; code?: string };

let db: DatabaseSync | undefined;

function open(path: string): void {
  db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec(SCHEMA);
}

function inTransaction<T>(work: (db: DatabaseSync) => T): T {
  if (db === undefined) throw new Error("Cannot write: the store is not open");
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work(db);
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

function append(events: NewEvent[]): AppendOutcome[] {
  return inTransaction((db) => {
    const insert = db.prepare(
      `INSERT INTO events (event_id, type, webhook_id, transaction_id, created_at,
         invalid_reason, body, signature, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (event_id) DO NOTHING`,
    );
    return events.map((event) => {
      const { changes } = insert.run(
        event.eventId,
        event.type ?? null,
        event.webhookId ?? null,
        event.transactionId ?? null,
        event.createdAt ?? null,
        event.invalidReason ?? null,
        event.body,
        event.signature,
        event.receivedAt,
      );
      return changes === 1 ? "stored" : "duplicate";
    });
  });
}

function update(sql: string, seqs: number[], ...params: string[]): void {
  inTransaction((db) => {
    const statement = db.prepare(sql);
    for (const seq of seqs) statement.run(...params, seq);
  });
}

function handle(request: WriterRequest): WriterReply {
  switch (request.op) {
    case "open":
      open(request.path);
      return { id: request.id, ok: true };
    case "append":
      return { id: request.id, ok: true, outcomes: append(request.events) };
    case "published":
      // Not worth an fsync: lost to a power cut, the mark only means a record is sent twice.
      // The next append's synchronous commit makes it durable anyway (same WAL).
      db!.exec("PRAGMA synchronous = NORMAL");
      try {
        update("UPDATE events SET published_at = ? WHERE seq = ?", request.seqs, request.at);
      } finally {
        db!.exec("PRAGMA synchronous = FULL");
      }
      return { id: request.id, ok: true };
    case "failed":
      update(
        "UPDATE events SET publish_attempts = publish_attempts + 1 WHERE seq = ?",
        request.seqs,
      );
      return { id: request.id, ok: true };
    case "probe":
      inTransaction((db) =>
        db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('probed_at', ?)")
          .run(request.at)
      );
      return { id: request.id, ok: true };
    case "close":
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

/**
 * @module Enrichment
 * What the enricher does with one webhook event, whatever it reads from (a Kafka consumer group,
 * or the local store in embedded mode) and wherever it writes: for CREATED and SETTLED, fetch
 * `GET /transactions/{id}` and publish the resource keyed by its id; for DELETED (or a
 * transaction already gone), publish a tombstone; ignore the rest. A failed fetch or publish
 * throws, and the runner hands the same event again after a backoff: nothing is skipped.
 */
import type { ConsumerMessage } from "../bus/consumer.ts";
import {
  tombstoneRecord,
  type TransactionRecord,
  transactionRecord,
} from "../bus/transaction_record.ts";
import type { PublishOutcome } from "../bus/transaction_state.ts";
import type { Logger } from "../runtime/log.ts";
import type { UpClient } from "../up/client.ts";
import { UpNotFoundError } from "../up/errors.ts";

/** What the enricher did since start. */
export interface EnricherStats {
  /** Transactions fetched and published. */
  published: number;
  /** Tombstones published. */
  tombstones: number;
  /** Records the sink skipped: their key's last published state was newer, or the same. */
  skippedStale: number;
  /** Events with nothing to enrich (PING, unknown types, dead letters). */
  ignored: number;
  /** Failed attempts, each retried. */
  failures: number;
}

/** Options for {@linkcode createEnrichment}. */
export interface EnrichmentOptions {
  /** The Up API client that fetches transactions. */
  up: UpClient;
  /**
   * Publishes one record; resolves once it is durable (acknowledged, or committed), or skipped
   * as older than the key's last published state (`skipped-stale`; nothing to retry).
   */
  publish: (record: TransactionRecord) => PublishOutcome | Promise<PublishOutcome>;
  /** Where it logs. */
  logger: Logger;
}

/** The per-event logic, with its counts. */
export interface Enrichment {
  /** Enriches one webhook event; throws (to be retried) when Up or the publish fails. */
  handle(message: ConsumerMessage): Promise<void>;
  /** Counts since creation; `failures` is the runner's to count, so always 0 here. */
  stats(): EnricherStats;
}

interface WebhookFacts {
  eventType: string | undefined;
  transactionId: string | undefined;
}

const CE_TYPES: Record<string, string> = {
  "au.com.up.webhook.transaction.created": "TRANSACTION_CREATED",
  "au.com.up.webhook.transaction.settled": "TRANSACTION_SETTLED",
  "au.com.up.webhook.transaction.deleted": "TRANSACTION_DELETED",
  "au.com.up.webhook.ping": "PING",
};

/** The event type and transaction id: from the CloudEvents headers, else from the body. */
function readFacts(message: ConsumerMessage): WebhookFacts {
  const fromHeader = CE_TYPES[message.headers.ce_type ?? ""];
  if (fromHeader !== undefined) {
    return { eventType: fromHeader, transactionId: message.headers.ce_subject };
  }
  try {
    const body = JSON.parse(new TextDecoder().decode(message.value ?? new Uint8Array()));
    return {
      eventType: body?.data?.attributes?.eventType,
      transactionId: body?.data?.relationships?.transaction?.data?.id,
    };
  } catch {
    return { eventType: undefined, transactionId: undefined };
  }
}

/**
 * Creates the per-event enrichment.
 *
 * @param options The Up client, the publisher and the logger.
 * @returns The handler of webhook events, and its counts.
 *
 * @example
 * ```ts
 * import { createEnrichment } from "./enrichment.ts";
 * import { createLogger } from "../runtime/log.ts";
 * import type { UpClient } from "../up/client.ts";
 * const published: Array<string | null> = [];
 * const enrichment = createEnrichment({
 *   up: {} as UpClient,
 *   publish: (record) => {
 *     published.push(record.value);
 *     return "published";
 *   },
 *   logger: createLogger({ write: () => {} }),
 * });
 * const headers = { ce_type: "au.com.up.webhook.transaction.deleted", ce_subject: "tx-1" };
 * await enrichment.handle({ topic: "t", partition: 0, offset: "0", key: "tx-1", value: null, headers, timestamp: "0" });
 * if (published[0] !== null || enrichment.stats().tombstones !== 1) throw new Error("unexpected");
 * ```
 */
export function createEnrichment(options: EnrichmentOptions): Enrichment {
  const { up, publish, logger } = options;
  const stats: EnricherStats = {
    published: 0,
    tombstones: 0,
    skippedStale: 0,
    ignored: 0,
    failures: 0,
  };

  /** Publishes; false (counted, logged at debug) when the sink skipped the record as stale. */
  async function published(record: TransactionRecord): Promise<boolean> {
    if (await publish(record) === "published") return true;
    stats.skippedStale++;
    logger.debug("skipped a stale state: the key's last published state is newer or the same", {
      transactionId: record.key,
    });
    return false;
  }

  async function handle(message: ConsumerMessage): Promise<void> {
    const { eventType, transactionId } = readFacts(message);
    const isTransactionEvent = eventType === "TRANSACTION_CREATED" ||
      eventType === "TRANSACTION_SETTLED" || eventType === "TRANSACTION_DELETED";
    if (!isTransactionEvent || transactionId === undefined) {
      stats.ignored++;
      return;
    }
    if (eventType === "TRANSACTION_DELETED") {
      if (!await published(tombstoneRecord(transactionId, "enricher"))) return;
      stats.tombstones++;
      logger.info("transaction deleted; published a tombstone", { transactionId });
      return;
    }
    let record: TransactionRecord;
    let status: string | undefined;
    try {
      const transaction = await up.getTransaction(transactionId);
      status = transaction.attributes.status;
      record = transactionRecord(transaction, "enricher");
    } catch (error) {
      if (!(error instanceof UpNotFoundError)) throw error;
      // Deleted before we asked: its latest state is "gone"; the DELETED event follows.
      logger.info("transaction no longer exists; publishing a tombstone", { transactionId });
      if (!await published(tombstoneRecord(transactionId, "enricher"))) return;
      stats.tombstones++;
      return;
    }
    if (!await published(record)) return;
    stats.published++;
    logger.info("enriched transaction", { transactionId, event: eventType, status });
  }

  return { handle, stats: () => ({ ...stats }) };
}

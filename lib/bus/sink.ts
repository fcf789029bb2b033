/**
 * @module Transaction sink
 * The seam's writing side: where the enricher (and backfill, and reconciliation) put full
 * transactions. Kafka (`lib/bus/kafka/transaction_sink.ts`, the compacted `up.transactions`
 * topic) and the local log (`lib/bus/local/local_log_sink.ts`) implement it. Both apply the
 * state order of `./transaction_state.ts`: a record older than its key's last published state
 * is skipped, not published over it, whoever writes it.
 */
import type { ConsumerMessage } from "./consumer.ts";
import type { TransactionRecord } from "./transaction_record.ts";
import type { PublishOutcome } from "./transaction_state.ts";

export type { PublishOutcome };

/** Where enriched transactions go: `up.transactions` in Kafka, or in the local log. */
export interface TransactionSink {
  /** Where it writes, for logs. */
  readonly name: string;
  /**
   * Publishes one record unless its key's last published state supersedes it; resolves once it
   * is durable, or once it is known to be skipped. `after` is the webhook event it came from,
   * for a sink that commits the source's position with the record (the local log's enricher
   * sink does, skipped or not); other writers pass none.
   */
  publish(record: TransactionRecord, after?: ConsumerMessage): Promise<PublishOutcome>;
  /**
   * Publishes a page of records (backfill's), each under the same rule, in one write where the
   * mode allows.
   */
  publishAll(records: TransactionRecord[]): Promise<PublishOutcome[]>;
  /** Releases the sink (disconnects a producer). */
  close(): Promise<void>;
}

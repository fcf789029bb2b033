/**
 * @module Transaction sink
 * The seam's writing side: where the enricher (and backfill, and reconciliation) put full
 * transactions. Kafka (`lib/bus/kafka/transaction_sink.ts`, the compacted `up.transactions`
 * topic) and the local log (`lib/bus/local/local_log_sink.ts`) implement it.
 */
import type { ConsumerMessage } from "./consumer.ts";
import type { TransactionRecord } from "./transaction_record.ts";

/** Where enriched transactions go: `up.transactions` in Kafka, or in the local log. */
export interface TransactionSink {
  /** Where it writes, for logs. */
  readonly name: string;
  /**
   * Publishes one record; resolves once it is durable. `after` is the webhook event it came
   * from, for a sink that commits the source's position with the record (the local log does).
   */
  publish(record: TransactionRecord, after: ConsumerMessage): Promise<void>;
  /** Releases the sink (disconnects a producer). */
  close(): Promise<void>;
}

/**
 * @module Reconciliation sink
 * Where reconciled transactions go, by mode, behind the enricher's {@linkcode TransactionSink}
 * seam: the enriched topic on Kafka (upbus's producer), or the same topic of the local log
 * (`DATA_DIR/pipeline.db`) in embedded mode. Unlike the enricher's local sink it commits no
 * reader's position: reconciliation reads Up's API, not a topic. Either way a reconciled state
 * older than what the key already holds is skipped (`lib/bus/transaction_state.ts`).
 */
import { createKafka } from "../../bus/kafka/client.ts";
import { kafkaTransactionSink } from "../../bus/kafka/transaction_sink.ts";
import { openLocalLog } from "../../bus/local/local_log.ts";
import { localLogTransactionSink } from "../../bus/local/local_log_sink.ts";
import type { TransactionSink } from "../../bus/sink.ts";
import type { KafkaConnectionConfig } from "../../bus/kafka/connection_config.ts";
import type { Logger } from "../../runtime/log.ts";

/** The settings the sink needs (the service's configuration has them all). */
export interface ReconcileSinkConfig {
  /** `DATA_DIR`: where the local log is. */
  dataDir: string;
  /** Empty: embedded mode. */
  kafkaBrokers: string[];
  /** `KAFKA_CLIENT_ID`: the client id the sink's producer announces. */
  kafkaClientId: string;
  /** The brokers' TLS and SASL settings (`KAFKA_SSL*`, `KAFKA_SASL_*`). */
  kafkaConnection: KafkaConnectionConfig;
  /** `KAFKA_TOPIC_PARTITIONS`: partitions of a topic the sink creates. */
  kafkaTopicPartitions: number;
  /** `KAFKA_REPLICATION_FACTOR`: replicas of a topic the sink creates. */
  kafkaReplicationFactor: number;
}

/**
 * Opens the sink of the configured mode.
 *
 * @param config The service's configuration (data directory, Kafka settings).
 * @param options The enriched topic and a logger.
 * @returns The sink; close it when done.
 * @throws {Error} If Kafka cannot be reached (Kafka mode).
 */
export async function openReconcileSink(
  config: ReconcileSinkConfig,
  options: { topic: string; logger: Logger },
): Promise<TransactionSink> {
  if (config.kafkaBrokers.length === 0) {
    const log = await openLocalLog(config.dataDir);
    const sink = localLogTransactionSink(log, { topic: options.topic });
    return { ...sink, close: () => Promise.resolve(log.close()) };
  }
  const kafka = createKafka({
    brokers: config.kafkaBrokers,
    clientId: `${config.kafkaClientId}-recovery`,
    connection: config.kafkaConnection,
    logger: options.logger.child({ component: "kafka" }),
  });
  return await kafkaTransactionSink(kafka, {
    topic: options.topic,
    partitions: config.kafkaTopicPartitions,
    replicationFactor: config.kafkaReplicationFactor,
    dataDir: config.dataDir,
    logger: options.logger,
  });
}

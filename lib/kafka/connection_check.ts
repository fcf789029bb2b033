/**
 * @module Kafka connection check
 * One look at the cluster before a command starts its work: connect, authenticate, read the
 * cluster's metadata, disconnect. A wrong password, an untrusted certificate or a TLS mismatch
 * then ends the command with one line that names the cause and the setting, instead of a stream
 * of kafkajs retries.
 */
import { createKafka } from "./client.ts";
import type { KafkaConnectionConfig } from "./connection_config.ts";
import { diagnoseKafkaError, KafkaConnectionError } from "./connection_error.ts";

/** Options of {@linkcode checkKafkaConnection}. */
export interface KafkaConnectionCheckOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** TLS and SASL settings; default plaintext. */
  connection?: KafkaConnectionConfig;
  /** Client id announced; default `upbus`. */
  clientId?: string;
  /** Connection timeout in ms; default 5000. */
  connectionTimeout?: number;
}

/**
 * Connects once and reads the cluster's metadata, with the settings every client of the command
 * will use. kafkajs logs nothing here: the outcome is the thrown error's message.
 *
 * @param options Brokers, settings and client id.
 * @returns The broker count of the cluster.
 * @throws {KafkaConnectionError} If it fails: `Cannot connect to Kafka at <brokers>: <cause and
 * setting>`; `fatal` says whether retrying can help.
 *
 * @example
 * ```ts ignore
 * import { checkKafkaConnection } from "./connection_check.ts";
 * await checkKafkaConnection({ brokers: ["127.0.0.1:9092"] });
 * ```
 */
export async function checkKafkaConnection(
  options: KafkaConnectionCheckOptions,
): Promise<number> {
  const connection = options.connection ?? {};
  const kafka = createKafka({
    brokers: options.brokers,
    clientId: options.clientId,
    connection,
    connectionTimeout: options.connectionTimeout ?? 5000,
    retries: 1,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    return brokers.length;
  } catch (error) {
    const problem = await diagnoseKafkaError(error, { brokers: options.brokers, connection });
    throw new KafkaConnectionError({
      message: `Cannot connect to Kafka at ${options.brokers.join(",")}: ${
        problem?.message ?? (error as Error).message
      }`,
      fatal: problem?.fatal ?? false,
    }, { cause: error });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

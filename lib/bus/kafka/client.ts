/**
 * The Kafka client factory: one `Kafka` instance per process, with upbus's TLS and SASL settings
 * (lib/bus/kafka/connection_options.ts), its logs routed to upbus's structured logger.
 *
 * @module
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import { Kafka, logLevel } from "kafkajs";
import type { Logger } from "../../runtime/log.ts";
import "./request_queue_fix.ts";
import "./encoder_fix.ts";
import type { KafkaConnectionConfig } from "./connection_config.ts";
import { kafkajsConnectionOptions } from "./connection_options.ts";
import { kafkaLogRouter, silenceTimeoutNegativeWarning } from "./log_creator.ts";

/** Options for {@linkcode createKafka}. */
export interface KafkaOptions {
  /** Bootstrap brokers, `host:port`. At least one. */
  brokers: string[];
  /** Client id announced to the brokers; default `upbus`. */
  clientId?: string;
  /** Where kafkajs logs go; default nowhere. */
  logger?: Logger;
  /** Connection timeout in ms; default 3000. */
  connectionTimeout?: number;
  /** TLS and SASL, from `loadKafkaConnection()`; default plaintext without authentication. */
  connection?: KafkaConnectionConfig;
  /** Retries of each request inside kafkajs; default 2. */
  retries?: number;
}

/**
 * Creates the process's Kafka client.
 *
 * @param options Brokers, client id, TLS and SASL, and logger.
 * @returns A kafkajs client; make producers and admins from it.
 * @throws {TypeError} If no broker is given.
 *
 * @example
 * ```ts
 * import { createKafka } from "./client.ts";
 * const kafka = createKafka({ brokers: ["127.0.0.1:9092"] });
 * ```
 */
export function createKafka(options: KafkaOptions): Kafka {
  if (options.brokers.length === 0) {
    throw new TypeError("Cannot create Kafka client: no brokers given");
  }
  silenceTimeoutNegativeWarning();
  const logs = kafkaLogRouter(options.logger);
  const kafka = new Kafka({
    ...kafkajsConnectionOptions(options.connection ?? {}),
    brokers: options.brokers,
    clientId: options.clientId ?? "upbus",
    connectionTimeout: options.connectionTimeout ?? 3000,
    logLevel: logLevel.INFO,
    logCreator: logs.logCreator,
    // Few retries inside kafkajs: the relay retries with its own backoff, and a send must not
    // hold a shutdown for long.
    retry: { initialRetryTime: 200, retries: options.retries ?? 2, maxRetryTime: 2000 },
  });
  logs.attach(kafka.logger());
  return kafka;
}

/**
 * @module Pipeline configuration
 * Configuration of the commands that work on Kafka beyond the webhook service (`enrich`,
 * `consume`, `backfill`): the service's Kafka settings, validated the same way, plus the
 * enriched topic and the dashboard's address. Read once at startup. Without `KAFKA_BROKERS`
 * the commands run in embedded mode, on the local store and the local log in `DATA_DIR`.
 */
import { type ConfigVariable, loadConfig, readTopic, readWholeNumber } from "./config.ts";
import type { LogFormat, LogLevel } from "../runtime/log.ts";
import {
  KAFKA_CONNECTION_VARIABLES,
  type KafkaConnectionConfig,
  type LoadKafkaConnectionOptions,
} from "../bus/kafka/connection_config.ts";
import { DEFAULT_TRANSACTIONS_TOPIC } from "../bus/transaction_record.ts";

/** The variables these commands read; their `deno.json` permission sets list the same. */
export const PIPELINE_VARIABLES = [
  "KAFKA_BROKERS",
  "KAFKA_TOPIC",
  "KAFKA_CLIENT_ID",
  "KAFKA_TOPIC_PARTITIONS",
  "KAFKA_REPLICATION_FACTOR",
  "TRANSACTIONS_TOPIC",
  "DATA_DIR",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "DASHBOARD_PORT",
  "DASHBOARD_HOST",
  "RECONCILE_SECONDS",
  "TZ",
  ...KAFKA_CONNECTION_VARIABLES,
] as const;

/** Configuration of `enrich`, `consume` and `backfill`. */
export interface PipelineConfig {
  /** `KAFKA_BROKERS`; empty means embedded mode (the local store and the local log). */
  kafkaBrokers: string[];
  /** Topic of the webhook events. `KAFKA_TOPIC`, default `up.webhook-events`. */
  kafkaTopic: string;
  /** `KAFKA_CLIENT_ID`, default `upbus`. */
  kafkaClientId: string;
  /** TLS and SASL (`KAFKA_SSL*`, `KAFKA_SASL*`), as for the service; holds secrets. */
  kafkaConnection: KafkaConnectionConfig;
  /** `KAFKA_TOPIC_PARTITIONS`, default 3. */
  kafkaTopicPartitions: number;
  /** `KAFKA_REPLICATION_FACTOR`, default -1 (the broker's). */
  kafkaReplicationFactor: number;
  /** The enriched topic. `TRANSACTIONS_TOPIC`, default `up.transactions`. */
  transactionsTopic: string;
  /** `DATA_DIR`, default `./data`: consumer state, ledger files, backfill checkpoints. */
  dataDir: string;
  /** `LOG_LEVEL`, default `info`. */
  logLevel: LogLevel;
  /** `LOG_FORMAT`; unset: text on a terminal, JSON lines otherwise. */
  logFormat?: LogFormat;
  /** Port of the position dashboard. `DASHBOARD_PORT`, default 8081; 0 picks a free one. */
  dashboardPort: number;
  /** Interface of the position dashboard. `DASHBOARD_HOST`, default `127.0.0.1`. */
  dashboardHost: string;
  /** Seconds between reconciliations with `GET /accounts`. `RECONCILE_SECONDS`, default 300;
   * 0 turns them off. */
  reconcileSeconds: number;
  /** Time zone of "today" and "this month". `TZ`, default `Australia/Sydney`. */
  timeZone: string;
}

/**
 * Loads and validates the configuration.
 *
 * @param env Reads one variable; default `Deno.env.get`.
 * @param options How the TLS and password files are read (tests pass their own).
 * @returns The configuration.
 * @throws {RangeError} If a variable is malformed; the message names the variable and what a
 * valid value looks like.
 *
 * @example
 * ```ts
 * import { loadPipelineConfig } from "./pipeline_config.ts";
 * const env: Record<string, string> = { KAFKA_BROKERS: "127.0.0.1:9092" };
 * const config = loadPipelineConfig((name) => env[name]);
 * if (config.transactionsTopic !== "up.transactions") throw new Error("unexpected");
 * ```
 */
export function loadPipelineConfig(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  options: LoadKafkaConnectionOptions = {},
): PipelineConfig {
  const allowed = new Set<string>(PIPELINE_VARIABLES);
  const base = loadConfig(
    (name: ConfigVariable) => allowed.has(name) ? env(name) : undefined,
    options,
  );
  const transactionsTopic = readTopic(env("TRANSACTIONS_TOPIC"), {
    name: "TRANSACTIONS_TOPIC",
    fallback: DEFAULT_TRANSACTIONS_TOPIC,
  });
  const timeZone = env("TZ")?.trim() || "Australia/Sydney";
  try {
    new Intl.DateTimeFormat("en-AU", { timeZone });
  } catch {
    throw new RangeError(
      `Cannot load config: TZ is "${timeZone}", expected an IANA time zone such as "Australia/Sydney"`,
    );
  }
  return {
    kafkaBrokers: base.kafkaBrokers,
    kafkaTopic: base.kafkaTopic,
    kafkaClientId: base.kafkaClientId,
    kafkaConnection: base.kafkaConnection,
    kafkaTopicPartitions: base.kafkaTopicPartitions,
    kafkaReplicationFactor: base.kafkaReplicationFactor,
    transactionsTopic,
    dataDir: base.dataDir,
    logLevel: base.logLevel,
    ...(base.logFormat ? { logFormat: base.logFormat } : {}),
    dashboardPort: readWholeNumber(env("DASHBOARD_PORT"), {
      name: "DASHBOARD_PORT",
      fallback: 8081,
      min: 0,
      max: 65535,
    }),
    dashboardHost: env("DASHBOARD_HOST")?.trim() || "127.0.0.1",
    reconcileSeconds: readWholeNumber(env("RECONCILE_SECONDS"), {
      name: "RECONCILE_SECONDS",
      fallback: 300,
      min: 0,
      max: 86_400,
    }),
    timeZone,
  };
}

/**
 * Service configuration: read once at startup from environment variables, validated, and
 * failing with a message that names the variable and what a valid value looks like.
 *
 * @module
 */
import {
  KAFKA_CONNECTION_VARIABLES,
  type KafkaConnectionConfig,
  loadKafkaConnection,
  type LoadKafkaConnectionOptions,
} from "../bus/kafka/connection_config.ts";
import { LOG_LEVELS, type LogFormat, type LogLevel, readLogFormat } from "../runtime/log.ts";

/** Every environment variable the service reads; `deno.json` permission sets list the same. */
export const CONFIG_VARIABLES = [
  "PORT",
  "HOST",
  "UP_WEBHOOK_SECRETS",
  "KAFKA_BROKERS",
  "KAFKA_TOPIC",
  "KAFKA_CLIENT_ID",
  "KAFKA_TOPIC_PARTITIONS",
  "KAFKA_REPLICATION_FACTOR",
  "DATA_DIR",
  "MAX_BODY_BYTES",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "OPS_PORT",
  "OPS_HOST",
  "RELAY_STALL_SECONDS",
  ...KAFKA_CONNECTION_VARIABLES,
  "HEADERS_TIMEOUT_SECONDS",
  "REQUEST_TIMEOUT_SECONDS",
  "IDLE_TIMEOUT_SECONDS",
  "MAX_CONNECTIONS",
  "MAX_CLIENT_CONNECTIONS",
  "UP_API_TOKEN",
  "UP_API_BASE",
  "TRANSACTIONS_TOPIC",
  "RECOVERY_INTERVAL_SECONDS",
  "RECOVERY_MARGIN_SECONDS",
  "RECOVERY_WEBHOOK_IDS",
  "RECONCILE_GRACE_SECONDS",
] as const;

/** The name of one configuration variable. */
export type ConfigVariable = typeof CONFIG_VARIABLES[number];

/** What the service and the pipeline commands read alike: Kafka, the data directory, logging. */
export interface SharedConfig {
  /** Kafka bootstrap brokers from `KAFKA_BROKERS`; empty means embedded mode (store only). */
  kafkaBrokers: string[];
  /** Topic the webhook events go to. `KAFKA_TOPIC`, default `up.webhook-events`. */
  kafkaTopic: string;
  /** Client id the producer announces. `KAFKA_CLIENT_ID`, default `upbus`. */
  kafkaClientId: string;
  /** TLS and SASL for every Kafka client (`KAFKA_SSL*`, `KAFKA_SASL*`); `{}` in embedded mode
   * and for plaintext. Holds secrets: never log it. */
  kafkaConnection: KafkaConnectionConfig;
  /** Partitions for topics upbus creates. `KAFKA_TOPIC_PARTITIONS`, default 3. */
  kafkaTopicPartitions: number;
  /** Replication factor for topics upbus creates; -1 means the broker default.
   * `KAFKA_REPLICATION_FACTOR`, default -1. */
  kafkaReplicationFactor: number;
  /** Where the event store and state live. `DATA_DIR`, default `./data`. */
  dataDir: string;
  /** Least severe log level written. `LOG_LEVEL`, default `info`. */
  logLevel: LogLevel;
  /** `text` or `json`. `LOG_FORMAT`; unset: text on a terminal, JSON lines otherwise. */
  logFormat?: LogFormat;
}

/**
 * The shared part of a configuration, for a command that reads more of its own.
 *
 * @param config The service's configuration.
 * @returns Its Kafka, data directory and logging settings alone.
 */
export function sharedConfig(config: SharedConfig): SharedConfig {
  return {
    kafkaBrokers: config.kafkaBrokers,
    kafkaTopic: config.kafkaTopic,
    kafkaClientId: config.kafkaClientId,
    kafkaConnection: config.kafkaConnection,
    kafkaTopicPartitions: config.kafkaTopicPartitions,
    kafkaReplicationFactor: config.kafkaReplicationFactor,
    dataDir: config.dataDir,
    logLevel: config.logLevel,
    ...(config.logFormat ? { logFormat: config.logFormat } : {}),
  };
}

/** The validated configuration of the webhook service. */
export interface Config extends SharedConfig {
  /** TCP port to listen on. `PORT`, default 8080. */
  port: number;
  /** Interface to listen on. `HOST`, default `0.0.0.0`. */
  host: string;
  /** Accepted webhook secrets from `UP_WEBHOOK_SECRETS` (comma-separated). May be empty when
   * the secrets come from the webhook state file instead. */
  webhookSecrets: string[];
  /** Largest accepted request body, in bytes. `MAX_BODY_BYTES`, default 262144 (256 KiB). */
  maxBodyBytes: number;
  /** A separate listener for `/healthz`, `/readyz` and `/metrics`, so that a tunnel to `port`
   * exposes `/webhook` only. `OPS_PORT`; unset (default): every route on `port`. */
  opsPort?: number;
  /** Interface of that listener. `OPS_HOST`, default `127.0.0.1`. */
  opsHost: string;
  /** How long stored events may wait with no progress before `/readyz` calls the relay
   * stalled, even with a connection open. `RELAY_STALL_SECONDS`, default 30. */
  relayStallSeconds: number;
  /** Seconds a client has to send a request's headers (and a new connection its first byte)
   * on the public listener. `HEADERS_TIMEOUT_SECONDS`, default 10. */
  headersTimeoutSeconds: number;
  /** Seconds a client has to send a whole request, headers and body.
   * `REQUEST_TIMEOUT_SECONDS`, default 20 (Up gives up after 30). */
  requestTimeoutSeconds: number;
  /** Seconds a kept-alive connection may sit idle between requests.
   * `IDLE_TIMEOUT_SECONDS`, default 5. */
  idleTimeoutSeconds: number;
  /** Connections open at once on the public listener; more are closed at once.
   * `MAX_CONNECTIONS`, default 256. */
  maxConnections: number;
  /** Connections open at once from one client address. `MAX_CLIENT_CONNECTIONS`, default 32.
   * Behind a tunnel or proxy on the same host every connection comes from its address. */
  maxConnectionsPerClient: number;
  /** Recovery from Up's delivery logs and reconciliation with its transactions, run at start
   * and every `intervalSeconds`; absent without `UP_API_TOKEN`, or with
   * `RECOVERY_INTERVAL_SECONDS=0`. Holds the token: never log it. */
  recovery?: RecoveryConfig;
}

/** How the service recovers what Up could not deliver (lib/recovery/). */
export interface RecoveryConfig {
  /** `UP_API_TOKEN`. */
  token: string;
  /** `UP_API_BASE`; default Up's. */
  baseUrl?: string;
  /** `RECOVERY_INTERVAL_SECONDS`, default 900 (15 minutes). */
  intervalSeconds: number;
  /** `RECOVERY_MARGIN_SECONDS`: how far before the last complete pass a pass reads back;
   * default 600. */
  marginSeconds: number;
  /** `RECOVERY_WEBHOOK_IDS`: webhooks to read beside those in `DATA_DIR/webhooks.json`. */
  webhookIds: string[];
  /** `RECONCILE_GRACE_SECONDS`: transactions that changed this recently are left to the
   * webhooks; default 60. */
  graceSeconds: number;
  /** `TRANSACTIONS_TOPIC`, default `up.transactions`: where reconciled transactions go. */
  transactionsTopic: string;
}

/** Reads one variable; returns `undefined` when unset. Defaults to `Deno.env.get`. */
export type EnvReader = (name: ConfigVariable) => string | undefined;

/**
 * Reads a whole-number variable.
 *
 * @param raw The variable's value, or `undefined` when unset.
 * @param options Its name (for the message), default and range.
 * @returns The number, or the default when unset or blank.
 * @throws {RangeError} If it is not a whole number in range.
 */
export function readWholeNumber(
  raw: string | undefined,
  options: { name: string; fallback: number; min: number; max: number },
): number {
  const text = raw?.trim();
  if (text === undefined || text === "") return options.fallback;
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || value < options.min || value > options.max) {
    throw new RangeError(
      `Cannot load config: ${options.name} is "${text}", expected a whole number from ${options.min} to ${options.max}`,
    );
  }
  return value;
}

/**
 * Reads a Kafka topic name variable.
 *
 * @param raw The variable's value, or `undefined` when unset.
 * @param options Its name (for the message) and default.
 * @returns The topic.
 * @throws {RangeError} If it is not a valid topic name.
 */
export function readTopic(
  raw: string | undefined,
  options: { name: string; fallback: string },
): string {
  const topic = raw?.trim() || options.fallback;
  if (!TOPIC.test(topic)) {
    throw new RangeError(
      `Cannot load config: ${options.name} is "${topic}", expected 1 to 245 letters, digits, ".", "_" or "-"`,
    );
  }
  return topic;
}

function readInteger(
  env: EnvReader,
  name: ConfigVariable,
  fallback: number,
  min: number,
  max: number,
): number {
  return readWholeNumber(env(name), { name, fallback, min, max });
}

function readList(env: EnvReader, name: ConfigVariable): string[] {
  return (env(name) ?? "").split(",").map((item) => item.trim()).filter((item) => item !== "");
}

const BROKER = /^[A-Za-z0-9.\-_]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,245}$/;

/**
 * Loads and validates the configuration.
 *
 * @param env Reads one variable; defaults to `Deno.env.get`.
 * @param options How the TLS and password files are read (tests pass their own).
 * @returns The validated configuration.
 * @throws {RangeError} If a variable holds a value out of range or of the wrong shape, or the
 * Kafka TLS and SASL settings do not fit together; the message names the variable and what a
 * valid value looks like.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig((name) => ({ UP_WEBHOOK_SECRETS: "s3cret" } as Record<string, string>)[name]);
 * if (config.port !== 8080) throw new Error("unexpected");
 * ```
 */
export function loadConfig(
  env: EnvReader = (name) => Deno.env.get(name),
  options: LoadKafkaConnectionOptions = {},
): Config {
  const kafkaBrokers = readList(env, "KAFKA_BROKERS");
  for (const broker of kafkaBrokers) {
    if (!BROKER.test(broker)) {
      throw new RangeError(
        `Cannot load config: KAFKA_BROKERS entry "${broker}" is not host:port, expected for example "127.0.0.1:9092,kafka2:9092"`,
      );
    }
  }
  const kafkaTopic = readTopic(env("KAFKA_TOPIC"), {
    name: "KAFKA_TOPIC",
    fallback: "up.webhook-events",
  });
  const logLevel = (env("LOG_LEVEL")?.trim().toLowerCase() || "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new RangeError(
      `Cannot load config: LOG_LEVEL is "${logLevel}", expected one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  const logFormat = readLogFormat(env("LOG_FORMAT"));
  const host = env("HOST")?.trim() || "0.0.0.0";
  const headersTimeoutSeconds = readInteger(env, "HEADERS_TIMEOUT_SECONDS", 10, 1, 3600);
  const requestTimeoutSeconds = readInteger(env, "REQUEST_TIMEOUT_SECONDS", 20, 1, 3600);
  if (headersTimeoutSeconds > requestTimeoutSeconds) {
    throw new RangeError(
      `Cannot load config: HEADERS_TIMEOUT_SECONDS (${headersTimeoutSeconds}) is more than REQUEST_TIMEOUT_SECONDS (${requestTimeoutSeconds}), expected at most that: the whole request includes its headers`,
    );
  }
  const token = env("UP_API_TOKEN")?.trim();
  const intervalSeconds = readInteger(env, "RECOVERY_INTERVAL_SECONDS", 900, 0, 86_400);
  const recovery: RecoveryConfig | undefined = token && intervalSeconds > 0
    ? {
      token,
      ...(env("UP_API_BASE")?.trim() ? { baseUrl: env("UP_API_BASE")!.trim() } : {}),
      intervalSeconds,
      marginSeconds: readInteger(env, "RECOVERY_MARGIN_SECONDS", 600, 0, 7 * 86_400),
      webhookIds: readList(env, "RECOVERY_WEBHOOK_IDS"),
      graceSeconds: readInteger(env, "RECONCILE_GRACE_SECONDS", 60, 0, 86_400),
      transactionsTopic: readTopic(env("TRANSACTIONS_TOPIC"), {
        name: "TRANSACTIONS_TOPIC",
        fallback: "up.transactions",
      }),
    }
    : undefined;
  return {
    ...(recovery ? { recovery } : {}),
    port: readInteger(env, "PORT", 8080, 0, 65535),
    host,
    webhookSecrets: readList(env, "UP_WEBHOOK_SECRETS"),
    kafkaBrokers,
    kafkaTopic,
    kafkaClientId: env("KAFKA_CLIENT_ID")?.trim() || "upbus",
    // Embedded mode talks to no broker: its TLS and SASL settings are not read.
    kafkaConnection: kafkaBrokers.length > 0 ? loadKafkaConnection(env, options) : {},
    kafkaTopicPartitions: readInteger(env, "KAFKA_TOPIC_PARTITIONS", 3, 1, 10_000),
    kafkaReplicationFactor: readInteger(env, "KAFKA_REPLICATION_FACTOR", -1, -1, 100),
    dataDir: env("DATA_DIR")?.trim() || "./data",
    maxBodyBytes: readInteger(env, "MAX_BODY_BYTES", 256 * 1024, 1024, 64 * 1024 * 1024),
    logLevel,
    ...(logFormat ? { logFormat } : {}),
    ...(env("OPS_PORT")?.trim() ? { opsPort: readInteger(env, "OPS_PORT", 0, 0, 65535) } : {}),
    opsHost: env("OPS_HOST")?.trim() || "127.0.0.1",
    relayStallSeconds: readInteger(env, "RELAY_STALL_SECONDS", 30, 1, 86_400),
    headersTimeoutSeconds,
    requestTimeoutSeconds,
    idleTimeoutSeconds: readInteger(env, "IDLE_TIMEOUT_SECONDS", 5, 1, 3600),
    maxConnections: readInteger(env, "MAX_CONNECTIONS", 256, 1, 65_535),
    maxConnectionsPerClient: readInteger(env, "MAX_CLIENT_CONNECTIONS", 32, 1, 65_535),
  };
}

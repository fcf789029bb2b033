/**
 * Service configuration: read once at startup from environment variables, validated, and
 * failing with a message that names the variable and what a valid value looks like.
 *
 * @module
 */

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
] as const;

/** The name of one configuration variable. */
export type ConfigVariable = typeof CONFIG_VARIABLES[number];

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level name. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Log line formats: `text` for people, `json` for machines. */
export const LOG_FORMATS = ["text", "json"] as const;

/** A log format name. */
export type LogFormat = typeof LOG_FORMATS[number];

/** The validated configuration of the webhook service. */
export interface Config {
  /** TCP port to listen on. `PORT`, default 8080. */
  port: number;
  /** Interface to listen on. `HOST`, default `0.0.0.0`. */
  host: string;
  /** Accepted webhook secrets from `UP_WEBHOOK_SECRETS` (comma-separated). May be empty when
   * the secrets come from the webhook state file instead. */
  webhookSecrets: string[];
  /** Kafka bootstrap brokers from `KAFKA_BROKERS`; empty means embedded mode (store only). */
  kafkaBrokers: string[];
  /** Topic the webhook events go to. `KAFKA_TOPIC`, default `up.webhook-events`. */
  kafkaTopic: string;
  /** Client id the producer announces. `KAFKA_CLIENT_ID`, default `upbus`. */
  kafkaClientId: string;
  /** Partitions for topics upbus creates. `KAFKA_TOPIC_PARTITIONS`, default 3. */
  kafkaTopicPartitions: number;
  /** Replication factor for topics upbus creates; -1 means the broker default.
   * `KAFKA_REPLICATION_FACTOR`, default -1. */
  kafkaReplicationFactor: number;
  /** Where the event store and state live. `DATA_DIR`, default `./data`. */
  dataDir: string;
  /** Largest accepted request body, in bytes. `MAX_BODY_BYTES`, default 262144 (256 KiB). */
  maxBodyBytes: number;
  /** Least severe log level written. `LOG_LEVEL`, default `info`. */
  logLevel: LogLevel;
  /** `text` or `json`. `LOG_FORMAT`; unset: text on a terminal, JSON lines otherwise. */
  logFormat?: LogFormat;
  /** A separate listener for `/healthz`, `/readyz` and `/metrics`, so that a tunnel to `port`
   * exposes `/webhook` only. `OPS_PORT`; unset (default): every route on `port`. */
  opsPort?: number;
  /** Interface of that listener. `OPS_HOST`, default `127.0.0.1`. */
  opsHost: string;
  /** How long stored events may wait with no progress before `/readyz` calls the relay
   * stalled, even with a connection open. `RELAY_STALL_SECONDS`, default 30. */
  relayStallSeconds: number;
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

/**
 * Reads `LOG_FORMAT`.
 *
 * @param raw The variable's value, or `undefined` when unset.
 * @returns The format, or `undefined` when unset or blank (the terminal decides).
 * @throws {RangeError} If it is neither `text` nor `json`.
 *
 * @example
 * ```ts
 * import { readLogFormat } from "./config.ts";
 * if (readLogFormat(" JSON ") !== "json" || readLogFormat("") !== undefined) throw new Error();
 * ```
 */
export function readLogFormat(raw: string | undefined): LogFormat | undefined {
  const text = raw?.trim().toLowerCase();
  if (!text) return undefined;
  if (!(LOG_FORMATS as readonly string[]).includes(text)) {
    throw new RangeError(
      `Cannot load config: LOG_FORMAT is "${text}", expected one of ${LOG_FORMATS.join(", ")}`,
    );
  }
  return text as LogFormat;
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
 * @returns The validated configuration.
 * @throws {RangeError} If a variable holds a value out of range or of the wrong shape; the
 * message names the variable and what a valid value looks like.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig((name) => ({ UP_WEBHOOK_SECRETS: "s3cret" } as Record<string, string>)[name]);
 * if (config.port !== 8080) throw new Error("unexpected");
 * ```
 */
export function loadConfig(env: EnvReader = (name) => Deno.env.get(name)): Config {
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
  return {
    port: readInteger(env, "PORT", 8080, 0, 65535),
    host,
    webhookSecrets: readList(env, "UP_WEBHOOK_SECRETS"),
    kafkaBrokers,
    kafkaTopic,
    kafkaClientId: env("KAFKA_CLIENT_ID")?.trim() || "upbus",
    kafkaTopicPartitions: readInteger(env, "KAFKA_TOPIC_PARTITIONS", 3, 1, 10_000),
    kafkaReplicationFactor: readInteger(env, "KAFKA_REPLICATION_FACTOR", -1, -1, 100),
    dataDir: env("DATA_DIR")?.trim() || "./data",
    maxBodyBytes: readInteger(env, "MAX_BODY_BYTES", 256 * 1024, 1024, 64 * 1024 * 1024),
    logLevel,
    ...(logFormat ? { logFormat } : {}),
    ...(env("OPS_PORT")?.trim() ? { opsPort: readInteger(env, "OPS_PORT", 0, 0, 65535) } : {}),
    opsHost: env("OPS_HOST")?.trim() || "127.0.0.1",
    relayStallSeconds: readInteger(env, "RELAY_STALL_SECONDS", 30, 1, 86_400),
  };
}

/**
 * @module Pipeline configuration
 * Configuration of the commands that work on Kafka beyond the webhook service (`enrich`,
 * `consume`, `backfill`): the service's Kafka settings, validated the same way, plus the
 * enriched topic and the dashboard's address. Read once at startup. Without `KAFKA_BROKERS`
 * the commands run in embedded mode, on the local store and the local log in `DATA_DIR`.
 */
import {
  type ConfigVariable,
  loadConfig,
  readTopic,
  readWholeNumber,
  type SharedConfig,
  sharedConfig,
} from "./config.ts";
import {
  KAFKA_CONNECTION_VARIABLES,
  type LoadKafkaConnectionOptions,
} from "../bus/kafka/connection_config.ts";
import { DEFAULT_TRANSACTIONS_TOPIC } from "../bus/transaction_record.ts";
import { DEFAULT_TIME_ZONE } from "../runtime/dates.ts";

/** The variables these commands read; their `deno.json` permission sets list the same. */
export const PIPELINE_VARIABLES = [
  "KAFKA_BROKERS",
  "KAFKA_TOPIC",
  "KAFKA_CLIENT_ID",
  "KAFKA_TOPIC_PARTITIONS",
  "KAFKA_REPLICATION_FACTOR",
  "TRANSACTIONS_TOPIC",
  "CONSUMER_GROUP_PREFIX",
  "DATA_DIR",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "DASHBOARD_PORT",
  "DASHBOARD_HOST",
  "RECONCILE_SECONDS",
  "TZ",
  ...KAFKA_CONNECTION_VARIABLES,
] as const;

/** Configuration of `enrich`, `consume` and `backfill`: the shared settings and their own. */
export interface PipelineConfig extends SharedConfig {
  /** The enriched topic. `TRANSACTIONS_TOPIC`, default `up.transactions`. */
  transactionsTopic: string;
  /** Port of the position dashboard. `DASHBOARD_PORT`, default 8081; 0 picks a free one. */
  dashboardPort: number;
  /** Interface of the position dashboard. `DASHBOARD_HOST`, default `127.0.0.1`. */
  dashboardHost: string;
  /** Seconds between reconciliations with `GET /accounts`. `RECONCILE_SECONDS`, default 300;
   * 0 turns them off. */
  reconcileSeconds: number;
  /** Time zone of "today" and "this month". `TZ`, default `Australia/Sydney`. */
  timeZone: string;
  /**
   * The first part of every consumer group's name (`<prefix>-enricher`, `<prefix>-notify`...).
   * `CONSUMER_GROUP_PREFIX`, default `upbus`: two deployments on one Kafka cluster each set
   * their own, since a group holds one position per partition whatever topic its members read.
   */
  groupPrefix: string;
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
  const groupPrefix = readTopic(env("CONSUMER_GROUP_PREFIX"), {
    name: "CONSUMER_GROUP_PREFIX",
    fallback: "upbus",
  });
  const timeZone = env("TZ")?.trim() || DEFAULT_TIME_ZONE;
  try {
    new Intl.DateTimeFormat("en-AU", { timeZone });
  } catch {
    throw new RangeError(
      `Cannot load config: TZ is "${timeZone}", expected an IANA time zone such as "Australia/Sydney"`,
    );
  }
  return {
    ...sharedConfig(base),
    transactionsTopic,
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
    groupPrefix,
  };
}

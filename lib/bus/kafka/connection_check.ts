/**
 * @module Kafka connection check
 * One look at the cluster before a command starts its work: connect, authenticate, read the
 * cluster's metadata, disconnect. A wrong password, an untrusted certificate or a TLS mismatch
 * then ends the command with one line that names the cause and the setting, instead of a stream
 * of kafkajs retries. `pipelineKafka()` is that check followed by the client, for the pipeline
 * commands (`backfill`, `enrich`, `consume`).
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { Kafka } from "kafkajs";
import type { Logger } from "../../runtime/log.ts";
import { createKafka } from "./client.ts";
import { type KafkaConnectionConfig, securityProtocol } from "./connection_config.ts";
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

/**
 * The check a command runs before its work: a problem retrying cannot fix (wrong password,
 * untrusted certificate, TLS mismatch, refused address) stops it with the check's one-line
 * message; one that may pass (a broker still starting, DNS not up yet) is logged once and the
 * command goes on, its own retries taking over; success is logged with the protocol in use.
 *
 * @param options Brokers, settings and client id, and the command's logger.
 * @throws {KafkaConnectionError} If the problem is fatal.
 *
 * @example
 * ```ts ignore
 * import { preflightKafka } from "./connection_check.ts";
 * await preflightKafka({ brokers: ["127.0.0.1:9092"], logger });
 * ```
 */
export async function preflightKafka(
  options: KafkaConnectionCheckOptions & { logger: Logger },
): Promise<boolean> {
  const { logger, ...check } = options;
  try {
    const brokers = await checkKafkaConnection(check);
    logger.info("connected to Kafka", {
      brokers: options.brokers,
      security: securityProtocol(options.connection ?? {}),
      clusterBrokers: brokers,
    });
    return true;
  } catch (error) {
    if (!(error instanceof KafkaConnectionError) || error.fatal) throw error;
    logger.warn("Kafka not reachable yet; going on, retrying as usual", { error: error.message });
    return false;
  }
}

/** The Kafka settings of a pipeline command (`backfill`, `enrich`, `consume`): from its config. */
export interface PipelineKafkaSettings {
  /** `KAFKA_BROKERS`: bootstrap brokers, `host:port`; at least one. */
  kafkaBrokers: string[];
  /** `KAFKA_CLIENT_ID`: the client id announced. */
  kafkaClientId: string;
  /** The brokers' TLS and SASL settings (`KAFKA_SSL*`, `KAFKA_SASL_*`). */
  kafkaConnection: KafkaConnectionConfig;
}

/**
 * The Kafka client of a pipeline command: the connection check first ({@linkcode preflightKafka}:
 * a wrong password or certificate ends the command here, in one line), then the one client the
 * command uses, its logs routed to the command's logger.
 *
 * @param settings The command's brokers, client id and TLS/SASL settings.
 * @param logger The command's logger.
 * @returns The client; nothing is connected yet.
 * @throws {KafkaConnectionError} If the check finds a problem retrying cannot fix.
 *
 * @example
 * ```ts ignore
 * import { pipelineKafka } from "./connection_check.ts";
 * const kafka = await pipelineKafka(config, logger);
 * ```
 */
export async function pipelineKafka(
  settings: PipelineKafkaSettings,
  logger: Logger,
): Promise<Kafka> {
  const options = {
    brokers: settings.kafkaBrokers,
    clientId: settings.kafkaClientId,
    connection: settings.kafkaConnection,
    logger,
  };
  await preflightKafka(options);
  return createKafka(options);
}

/**
 * @module Kafka connection options
 * The one place where upbus's TLS and SASL settings become kafkajs client options (`ssl`,
 * `sasl`); `createKafka()` uses it for every client upbus makes: the relay's, the enricher's,
 * the consumers', the backfill's and the startup connection check's.
 */
/**
 * Types of kafkajs, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import type { KafkaConfig, SASLOptions } from "kafkajs";
import type { KafkaConnectionConfig } from "./connection_config.ts";

/** The part of a kafkajs `KafkaConfig` that says how to connect. */
export type KafkajsConnectionOptions = Pick<KafkaConfig, "ssl" | "sasl">;

/**
 * Reads an OAUTHBEARER token file: one token, surrounding white space ignored.
 *
 * @param path The file.
 * @returns The token.
 * @throws {Error} If the file cannot be read or is empty; the message names the variable.
 */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(
      `Cannot read KAFKA_SASL_OAUTHBEARER_TOKEN_FILE "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  const token = text.trim();
  if (token === "") {
    throw new Error(`Cannot use KAFKA_SASL_OAUTHBEARER_TOKEN_FILE "${path}": it is empty`);
  }
  return token;
}

/**
 * Builds the kafkajs `ssl` and `sasl` options from upbus's connection settings.
 *
 * TLS verifies the broker's certificate and host name always: against `ca` when given, else the
 * runtime's built-in public roots (enough for Confluent Cloud, MSK and Redpanda Cloud). The
 * OAUTHBEARER token is read from its file at each (re)authentication, never kept by upbus.
 *
 * @param connection The settings from `loadKafkaConnection()`.
 * @returns `ssl` and `sasl` for `new Kafka({...})`; empty for plaintext.
 *
 * @example
 * ```ts
 * import { kafkajsConnectionOptions } from "./connection_options.ts";
 * const options = kafkajsConnectionOptions({
 *   tls: {},
 *   sasl: { mechanism: "plain", username: "key", password: "secret", passwordFrom: "KAFKA_SASL_PASSWORD" },
 * });
 * if (options.ssl !== true || options.sasl?.mechanism !== "plain") throw new Error("unexpected");
 * ```
 */
export function kafkajsConnectionOptions(
  connection: KafkaConnectionConfig,
): KafkajsConnectionOptions {
  const options: KafkajsConnectionOptions = {};
  const { tls, sasl } = connection;
  if (tls !== undefined) {
    const custom = {
      ...(tls.ca !== undefined ? { ca: [tls.ca] } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}),
    };
    options.ssl = Object.keys(custom).length > 0 ? { ...custom, rejectUnauthorized: true } : true;
  }
  if (sasl !== undefined) {
    let built: SASLOptions;
    if (sasl.mechanism === "oauthbearer") {
      const { tokenFile } = sasl;
      built = {
        mechanism: "oauthbearer",
        oauthBearerProvider: async function readOAuthBearerToken() {
          return { value: await readTokenFile(tokenFile) };
        },
      };
    } else {
      built = { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
    }
    options.sasl = built;
  }
  return options;
}

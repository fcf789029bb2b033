/**
 * @module Kafka connection configuration
 * How upbus reaches its brokers, from environment variables: TLS (on or off, a CA, a client
 * certificate) and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER with a token file).
 * Read once at startup by `loadConfig()` and `loadPipelineConfig()`, so `serve`, `enrich`,
 * `consume` and `backfill` share the same settings. Certificates and passwords are read from
 * their files here, so a missing file is a config error at startup, and the result is plain data
 * that crosses `postMessage` to the relay's worker.
 */

/** The variables read here; `deno.json` permission sets list the same. */
export const KAFKA_CONNECTION_VARIABLES = [
  "KAFKA_SSL",
  "KAFKA_SSL_CA_FILE",
  "KAFKA_SSL_CERT_FILE",
  "KAFKA_SSL_KEY_FILE",
  "KAFKA_SASL_MECHANISM",
  "KAFKA_SASL_USERNAME",
  "KAFKA_SASL_PASSWORD",
  "KAFKA_SASL_PASSWORD_FILE",
  "KAFKA_SASL_OAUTHBEARER_TOKEN_FILE",
] as const;

/** The name of one connection variable. */
export type KafkaConnectionVariable = typeof KAFKA_CONNECTION_VARIABLES[number];

/** SASL mechanisms upbus speaks, as `KAFKA_SASL_MECHANISM` spells them. */
export const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512", "oauthbearer"] as const;

/** One SASL mechanism. */
export type SaslMechanism = typeof SASL_MECHANISMS[number];

/** TLS settings; PEM text, read from the files at startup. */
export interface KafkaTlsConfig {
  /** CA certificates to trust instead of the built-in public roots (`KAFKA_SSL_CA_FILE`). */
  ca?: string;
  /** Client certificate chain (`KAFKA_SSL_CERT_FILE`), with `key`. */
  cert?: string;
  /** Its unencrypted private key (`KAFKA_SSL_KEY_FILE`). */
  key?: string;
}

/** SASL with a user name and password. */
export interface KafkaPasswordSasl {
  /** The SASL mechanism (`KAFKA_SASL_MECHANISM`). */
  mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  /** The user name (`KAFKA_SASL_USERNAME`). */
  username: string;
  /** The password, from `passwordFrom`. */
  password: string;
  /** Which variable the password came from, for messages. */
  passwordFrom: "KAFKA_SASL_PASSWORD" | "KAFKA_SASL_PASSWORD_FILE";
}

/** SASL OAUTHBEARER, its token read from a file at each authentication. */
export interface KafkaOAuthBearerSasl {
  /** The SASL mechanism (`KAFKA_SASL_MECHANISM=oauthbearer`). */
  mechanism: "oauthbearer";
  /** `KAFKA_SASL_OAUTHBEARER_TOKEN_FILE`: holds one token; re-read at each authentication, so
   * whatever refreshes it (a timer, a sidecar) is picked up without a restart. */
  tokenFile: string;
}

/** How to connect to the brokers: both absent means plaintext without authentication. */
export interface KafkaConnectionConfig {
  /** TLS settings when `KAFKA_SSL=true`. */
  tls?: KafkaTlsConfig;
  /** SASL settings when `KAFKA_SASL_MECHANISM` is set. */
  sasl?: KafkaPasswordSasl | KafkaOAuthBearerSasl;
}

/** Options of {@linkcode loadKafkaConnection}. */
export interface LoadKafkaConnectionOptions {
  /** Reads a file as text; default `Deno.readTextFileSync`. */
  readTextFile?: (path: string) => string;
}

function fail(message: string): never {
  throw new RangeError(`Cannot load config: ${message}`);
}

function readFile(
  name: KafkaConnectionVariable,
  path: string,
  read: (path: string) => string,
): string {
  try {
    return read(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied (the file must be readable by the user upbus runs as)"
      : error instanceof Deno.errors.NotCapable
      ? "upbus may not read that path (see docs/kafka.md, Permissions)"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (error as Error).message;
    fail(`${name} is "${path}", which cannot be read: ${why}`);
  }
}

function readPem(
  name: KafkaConnectionVariable,
  path: string,
  read: (path: string) => string,
  kind: "certificate" | "key",
): string {
  const text = readFile(name, path, read);
  if (kind === "certificate" && !text.includes("-----BEGIN CERTIFICATE-----")) {
    fail(`${name} is "${path}", expected a PEM file with "-----BEGIN CERTIFICATE-----"`);
  }
  if (kind === "key") {
    if (/ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(text)) {
      fail(
        `${name} is "${path}", an encrypted key; expected an unencrypted PEM key (openssl pkey -in key.pem -out plain.pem)`,
      );
    }
    if (!/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(text)) {
      fail(`${name} is "${path}", expected a PEM file with "-----BEGIN PRIVATE KEY-----"`);
    }
  }
  return text;
}

function readBoolean(name: KafkaConnectionVariable, raw: string | undefined): boolean | undefined {
  const text = raw?.trim().toLowerCase();
  if (text === undefined || text === "") return undefined;
  if (["true", "1", "yes"].includes(text)) return true;
  if (["false", "0", "no"].includes(text)) return false;
  fail(`${name} is "${raw}", expected true or false`);
}

/**
 * Reads the TLS and SASL settings and checks that they fit together: a CA or client certificate
 * needs `KAFKA_SSL=true`, a certificate needs its key, a password mechanism needs a user name and
 * exactly one of `KAFKA_SASL_PASSWORD` and `KAFKA_SASL_PASSWORD_FILE`, OAUTHBEARER needs a token
 * file and no password.
 *
 * @param env Reads one variable.
 * @param options How files are read.
 * @returns The settings; `{}` for plaintext without authentication.
 * @throws {RangeError} If a variable is malformed, a file cannot be read or the settings do not
 * fit together; the message names the variable and what to set.
 *
 * @example
 * ```ts
 * import { loadKafkaConnection } from "./connection_config.ts";
 * const env: Record<string, string> = {
 *   KAFKA_SSL: "true",
 *   KAFKA_SASL_MECHANISM: "scram-sha-512",
 *   KAFKA_SASL_USERNAME: "upbus",
 *   KAFKA_SASL_PASSWORD: "example-password",
 * };
 * const connection = loadKafkaConnection((name) => env[name]);
 * if (connection.sasl?.mechanism !== "scram-sha-512") throw new Error("unexpected");
 * ```
 */
export function loadKafkaConnection(
  env: (name: KafkaConnectionVariable) => string | undefined,
  options: LoadKafkaConnectionOptions = {},
): KafkaConnectionConfig {
  const read = options.readTextFile ?? ((path: string) => Deno.readTextFileSync(path));
  const value = (name: KafkaConnectionVariable) => {
    const text = env(name)?.trim();
    return text === "" ? undefined : text;
  };
  const connection: KafkaConnectionConfig = {};

  const ssl = readBoolean("KAFKA_SSL", env("KAFKA_SSL"));
  const files = (["KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE"] as const)
    .filter((name) => value(name) !== undefined);
  if (ssl !== true && files.length > 0) {
    fail(
      `${files[0]} is set but KAFKA_SSL is ${
        ssl === false ? "false" : "not set"
      }: set KAFKA_SSL=true to connect with TLS`,
    );
  }
  if (ssl) {
    const tls: KafkaTlsConfig = {};
    const caFile = value("KAFKA_SSL_CA_FILE");
    if (caFile) tls.ca = readPem("KAFKA_SSL_CA_FILE", caFile, read, "certificate");
    const certFile = value("KAFKA_SSL_CERT_FILE");
    const keyFile = value("KAFKA_SSL_KEY_FILE");
    if ((certFile === undefined) !== (keyFile === undefined)) {
      fail(
        certFile
          ? "KAFKA_SSL_CERT_FILE is set but KAFKA_SSL_KEY_FILE is not: a client certificate needs its private key"
          : "KAFKA_SSL_KEY_FILE is set but KAFKA_SSL_CERT_FILE is not: a private key needs its client certificate",
      );
    }
    if (certFile && keyFile) {
      tls.cert = readPem("KAFKA_SSL_CERT_FILE", certFile, read, "certificate");
      tls.key = readPem("KAFKA_SSL_KEY_FILE", keyFile, read, "key");
    }
    connection.tls = tls;
  }

  const mechanismText = value("KAFKA_SASL_MECHANISM");
  const username = value("KAFKA_SASL_USERNAME");
  // A password's spaces are its own: only a blank one counts as unset.
  const password = env("KAFKA_SASL_PASSWORD");
  const passwordFile = value("KAFKA_SASL_PASSWORD_FILE");
  const tokenFile = value("KAFKA_SASL_OAUTHBEARER_TOKEN_FILE");
  const given = ([
    ["KAFKA_SASL_USERNAME", username],
    ["KAFKA_SASL_PASSWORD", password?.trim() ? password : undefined],
    ["KAFKA_SASL_PASSWORD_FILE", passwordFile],
    ["KAFKA_SASL_OAUTHBEARER_TOKEN_FILE", tokenFile],
  ] as const).filter(([, set]) => set !== undefined).map(([name]) => name);
  if (mechanismText === undefined) {
    if (given.length > 0) {
      fail(
        `${given[0]} is set but KAFKA_SASL_MECHANISM is not: set it to one of ${
          SASL_MECHANISMS.join(", ")
        }`,
      );
    }
    return connection;
  }
  const mechanism = mechanismText.toLowerCase() as SaslMechanism;
  if (!SASL_MECHANISMS.includes(mechanism)) {
    fail(
      `KAFKA_SASL_MECHANISM is "${mechanismText}", expected one of ${SASL_MECHANISMS.join(", ")}`,
    );
  }
  if (mechanism === "oauthbearer") {
    const extra = given.find((name) => name !== "KAFKA_SASL_OAUTHBEARER_TOKEN_FILE");
    if (extra) {
      fail(
        `${extra} is set but KAFKA_SASL_MECHANISM is oauthbearer, which uses a token: unset it, or pick plain or scram-sha-512`,
      );
    }
    if (tokenFile === undefined) {
      fail(
        "KAFKA_SASL_MECHANISM is oauthbearer but KAFKA_SASL_OAUTHBEARER_TOKEN_FILE is not set: set it to a file holding the token",
      );
    }
    if (readFile("KAFKA_SASL_OAUTHBEARER_TOKEN_FILE", tokenFile, read).trim() === "") {
      fail(`KAFKA_SASL_OAUTHBEARER_TOKEN_FILE is "${tokenFile}", which is empty`);
    }
    connection.sasl = { mechanism, tokenFile };
    return connection;
  }
  if (tokenFile !== undefined) {
    fail(
      `KAFKA_SASL_OAUTHBEARER_TOKEN_FILE is set but KAFKA_SASL_MECHANISM is ${mechanism}: set KAFKA_SASL_MECHANISM=oauthbearer, or unset the token file`,
    );
  }
  if (username === undefined) {
    fail(`KAFKA_SASL_MECHANISM is ${mechanism} but KAFKA_SASL_USERNAME is not set`);
  }
  const hasPassword = password !== undefined && password.trim() !== "";
  if (hasPassword && passwordFile !== undefined) {
    fail(
      "KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: keep one (the file, for systemd credentials)",
    );
  }
  if (!hasPassword && passwordFile === undefined) {
    fail(
      `KAFKA_SASL_MECHANISM is ${mechanism} but neither KAFKA_SASL_PASSWORD nor KAFKA_SASL_PASSWORD_FILE is set`,
    );
  }
  if (hasPassword) {
    connection.sasl = { mechanism, username, password, passwordFrom: "KAFKA_SASL_PASSWORD" };
    return connection;
  }
  // A file's last line break is the editor's, not the password's.
  const fromFile = readFile("KAFKA_SASL_PASSWORD_FILE", passwordFile!, read).replace(/\r?\n$/, "");
  if (fromFile === "") fail(`KAFKA_SASL_PASSWORD_FILE is "${passwordFile}", which is empty`);
  connection.sasl = {
    mechanism,
    username,
    password: fromFile,
    passwordFrom: "KAFKA_SASL_PASSWORD_FILE",
  };
  return connection;
}

/**
 * The security protocol these settings give, as Kafka names its listeners: `PLAINTEXT`, `SSL`,
 * `SASL_PLAINTEXT` or `SASL_SSL`. No secret in it, so it may be logged.
 *
 * @param connection The settings.
 * @returns The protocol, with the SASL mechanism, e.g. `SASL_SSL (SCRAM-SHA-512)`.
 *
 * @example
 * ```ts
 * import { securityProtocol } from "./connection_config.ts";
 * if (securityProtocol({ tls: {} }) !== "SSL") throw new Error("unexpected");
 * ```
 */
export function securityProtocol(connection: KafkaConnectionConfig): string {
  const tls = connection.tls !== undefined;
  if (connection.sasl === undefined) return tls ? "SSL" : "PLAINTEXT";
  return `${tls ? "SASL_SSL" : "SASL_PLAINTEXT"} (${connection.sasl.mechanism.toUpperCase()})`;
}

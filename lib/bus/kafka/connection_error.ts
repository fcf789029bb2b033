/**
 * @module Kafka connection errors
 * Turns what kafkajs and TLS throw when a connection fails into one message a user can act on:
 * the cause and the setting to change (`authentication failed (SCRAM-SHA-512): check
 * KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`, `certificate not trusted: set
 * KAFKA_SSL_CA_FILE`...), and whether trying again can help. kafkajs reports most of these as
 * `Closed connection` or a bare TLS code, wrapped in `KafkaJSNumberOfRetriesExceeded`.
 */
import { connect as connectTls } from "node:tls";
import type { KafkaConnectionConfig } from "./connection_config.ts";
import { probeListener } from "./listener_probe.ts";

/** What went wrong, for a person. */
export interface KafkaConnectionProblem {
  /** The cause and the setting to change, e.g. `certificate not trusted: set KAFKA_SSL_CA_FILE`. */
  message: string;
  /**
   * True when trying again with the same settings cannot help (wrong password, untrusted
   * certificate, TLS mismatch, a refused address): a command should stop and say so.
   */
  fatal: boolean;
}

/** A connection that failed for a known reason; `message` is the problem's. */
export class KafkaConnectionError extends Error {
  /** Whether retrying can help; see {@linkcode KafkaConnectionProblem.fatal}. */
  readonly fatal: boolean;

  /**
   * Makes the error of a known connection problem.
   *
   * @param problem What went wrong.
   * @param options The original error, as `cause`.
   */
  constructor(problem: KafkaConnectionProblem, options?: { cause?: unknown }) {
    super(problem.message, options);
    this.name = "KafkaConnectionError";
    this.fatal = problem.fatal;
  }
}

interface ErrorLike {
  name?: string;
  /** kafkajs protocol errors: the broker's error name, e.g. `UNSUPPORTED_SASL_MECHANISM`. */
  type?: string;
  message?: string;
  code?: string;
  cause?: unknown;
  originalError?: unknown;
}

/** The error and its causes, outermost first (kafkajs nests them in `cause`/`originalError`). */
function chain(error: unknown): ErrorLike[] {
  const seen: ErrorLike[] = [];
  let current: unknown = error;
  while (current !== null && typeof current === "object" && seen.length < 8) {
    const item = current as ErrorLike;
    if (seen.includes(item)) break;
    seen.push(item);
    current = item.cause ?? item.originalError;
  }
  return seen;
}

/** A SASL client at a listener without SASL. */
const NO_SASL =
  "the broker's listener does not use SASL: use the port of its SASL listener in KAFKA_BROKERS, or unset KAFKA_SASL_MECHANISM";

/** How every closed-connection message starts. */
const CLOSED = "the broker closed the connection";

/** TLS verification codes meaning "signed by nobody I trust" (Node's names, which Deno keeps). */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

function passwordVariables(connection: KafkaConnectionConfig): string {
  const sasl = connection.sasl;
  const from = sasl && sasl.mechanism !== "oauthbearer" ? sasl.passwordFrom : "KAFKA_SASL_PASSWORD";
  return `KAFKA_SASL_USERNAME and ${from}`;
}

/**
 * Says what a Kafka connection error means, for the settings in use.
 *
 * @param error What kafkajs (or the runtime) threw.
 * @param connection The TLS and SASL settings the client used.
 * @returns The problem, or `undefined` when the error is not a connection problem upbus knows.
 *
 * @example
 * ```ts
 * import { describeKafkaError } from "./connection_error.ts";
 * const error = Object.assign(new Error("Connection error: unable to verify the first certificate"), {
 *   name: "KafkaJSConnectionError",
 *   code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
 * });
 * const problem = describeKafkaError(error, { tls: {} });
 * if (!problem?.message.startsWith("certificate not trusted: set KAFKA_SSL_CA_FILE")) {
 *   throw new Error(problem?.message);
 * }
 * ```
 */
export function describeKafkaError(
  error: unknown,
  connection: KafkaConnectionConfig = {},
): KafkaConnectionProblem | undefined {
  const errors = chain(error);
  const text = errors.map((e) => `${e.message ?? ""}`).join(" | ");
  const codes = new Set(errors.map((e) => e.code).filter((code) => code !== undefined));
  const names = new Set(errors.map((e) => e.name));
  const types = new Set(errors.map((e) => e.type));
  const { tls, sasl } = connection;

  // kafkajs's own check, or the broker's UNSUPPORTED_SASL_MECHANISM answer.
  const offered = /SASL (\S+) mechanism is not supported by the server/.exec(text)?.[1] ??
    (types.has("UNSUPPORTED_SASL_MECHANISM") ||
        /does not support the requested SASL mechanism/.test(text)
      ? sasl?.mechanism.toUpperCase() ?? "that mechanism"
      : undefined);
  if (offered !== undefined) {
    return {
      message:
        `the broker does not offer SASL ${offered}: set KAFKA_SASL_MECHANISM to a mechanism its listener enables (plain, scram-sha-256, scram-sha-512 or oauthbearer)`,
      fatal: true,
    };
  }
  if (sasl && types.has("ILLEGAL_SASL_STATE")) {
    return { message: NO_SASL, fatal: true };
  }
  if (names.has("KafkaJSSASLAuthenticationError")) {
    const mechanism = sasl?.mechanism.toUpperCase() ?? "SASL";
    if (sasl?.mechanism === "oauthbearer") {
      return {
        message:
          `authentication failed (OAUTHBEARER): the broker refused the token in KAFKA_SASL_OAUTHBEARER_TOKEN_FILE`,
        fatal: true,
      };
    }
    return {
      message: `authentication failed (${mechanism}): check ${passwordVariables(connection)}`,
      fatal: true,
    };
  }
  if (/KAFKA_SASL_OAUTHBEARER_TOKEN_FILE/.test(text)) {
    const line = errors.find((e) => e.message?.includes("KAFKA_SASL_OAUTHBEARER_TOKEN_FILE"));
    return { message: line!.message!.replace(/^Cannot /, "cannot "), fatal: false };
  }
  if ([...codes].some((code) => UNTRUSTED.has(code!))) {
    return {
      message: tls?.ca
        ? "certificate not trusted: the broker's certificate is not signed by the CA in KAFKA_SSL_CA_FILE; set it to the CA certificate (PEM) your Kafka provider gives"
        : "certificate not trusted: set KAFKA_SSL_CA_FILE to the CA certificate (PEM) that signed the broker's certificate",
      fatal: true,
    };
  }
  if (codes.has("CERT_HAS_EXPIRED") || codes.has("CERT_NOT_YET_VALID")) {
    return {
      message:
        "the broker's certificate is expired or not yet valid: renew it, or check this machine's clock",
      fatal: true,
    };
  }
  if (codes.has("ERR_TLS_CERT_ALTNAME_INVALID")) {
    return {
      message:
        "the broker's certificate does not name the host upbus connected to: use the host name of the certificate in KAFKA_BROKERS (and in the brokers' advertised.listeners)",
      fatal: true,
    };
  }
  if (
    tls &&
    /before secure TLS connection was established|wrong version number|packet length too long|unexpected eof|record overflow/i
      .test(text)
  ) {
    return {
      message:
        "the broker does not speak TLS on this port: use its TLS listener's port in KAFKA_BROKERS, or set KAFKA_SSL=false",
      fatal: true,
    };
  }
  if (
    tls &&
    /alert:? (BadCertificate|CertificateRequired|UnknownCA|bad certificate|certificate required|unknown ca)/i
      .test(text)
  ) {
    return {
      message: tls.cert
        ? "the broker refused upbus's client certificate: set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE to a certificate signed by a CA the broker trusts"
        : "the broker wants a client certificate (set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE)",
      fatal: true,
    };
  }
  const refused = /getaddrinfo EPERM (\S+)|Requires net access to "([^"]+)"/.exec(text);
  if (codes.has("EPERM") || names.has("NotCapable") || refused) {
    const host = refused?.[1] ?? refused?.[2] ?? "that address";
    return {
      message:
        `upbus may not connect to ${host}: cloud metadata addresses (169.254.169.254 and the like) are refused; check KAFKA_BROKERS and the addresses the brokers advertise`,
      fatal: true,
    };
  }
  const notFound = /getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (\S+)/.exec(text);
  if (notFound) {
    return {
      message: `broker host ${
        notFound[1]
      } not found: check KAFKA_BROKERS (and the host names the brokers advertise)`,
      fatal: false,
    };
  }
  if (codes.has("ECONNREFUSED") || /ECONNREFUSED/.test(text)) {
    return {
      message: "nothing accepts connections there: check KAFKA_BROKERS and that the broker runs",
      fatal: false,
    };
  }
  // A closed connection is all kafkajs sees of a listener that wants TLS, SASL or a client
  // certificate, but a broker going down looks the same: not fatal until diagnoseKafkaError()
  // has asked the listener.
  if (
    /Closed connection|Not connected|ECONNRESET|EPIPE|socket hang up|write after end/.test(text)
  ) {
    const wants = [
      ...(tls ? [] : ["TLS (set KAFKA_SSL=true)"]),
      ...(sasl
        ? []
        : ["SASL (set KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)"]),
      ...(tls && !tls.cert
        ? ["a client certificate (set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE)"]
        : []),
    ];
    return {
      message: `${CLOSED}${tls ? " after TLS" : ""}: ${
        wants.length > 0
          ? `its listener may want ${wants.join(" or ")}, or it is going down`
          : "it may be going down"
      }`,
      fatal: false,
    };
  }
  return undefined;
}

/** Options of {@linkcode diagnoseKafkaError}. */
export interface DiagnoseOptions {
  /** The bootstrap brokers, `host:port`. */
  brokers: string[];
  /** The TLS and SASL settings in use. */
  connection: KafkaConnectionConfig;
  /** How long the TLS probe may take; default 3000 ms. */
  timeoutMs?: number;
}

/** Whether `host:port` completes a TLS handshake (certificate not checked: only "is it TLS?"). */
function speaksTls(broker: string, timeoutMs: number): Promise<boolean> {
  const at = broker.lastIndexOf(":");
  const host = broker.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(broker.slice(at + 1));
  return new Promise((resolve) => {
    const socket = connectTls({ host, port, rejectUnauthorized: false });
    const done = (result: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("secureConnect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

/**
 * {@linkcode describeKafkaError}, made sure by asking the broker: when the connection was just
 * closed, a TLS handshake and a `SaslHandshake` to the first bootstrap broker tell "TLS required
 * by the broker: set KAFKA_SSL=true" from "its listener wants SASL (it offers ...)", "does not use
 * SASL" or "wants a client certificate", each fatal. A broker that does not answer leaves the
 * problem as it was, not fatal.
 *
 * @param error What kafkajs threw.
 * @param options Brokers and settings.
 * @returns The problem, or `undefined` when the error is not a connection problem upbus knows.
 *
 * @example
 * ```ts ignore
 * import { diagnoseKafkaError } from "./connection_error.ts";
 * const problem = await diagnoseKafkaError(error, { brokers: ["127.0.0.1:9093"], connection: {} });
 * ```
 */
export async function diagnoseKafkaError(
  error: unknown,
  options: DiagnoseOptions,
): Promise<KafkaConnectionProblem | undefined> {
  const { connection, brokers } = options;
  const problem = describeKafkaError(error, connection);
  if (!problem?.message.startsWith(CLOSED) || brokers.length === 0) return problem;
  const timeoutMs = options.timeoutMs ?? 3000;
  const { tls, sasl } = connection;
  if (!tls && await speaksTls(brokers[0], timeoutMs)) {
    return {
      message:
        "TLS required by the broker: set KAFKA_SSL=true (and KAFKA_SSL_CA_FILE if its CA is private)",
      fatal: true,
    };
  }
  const listener = await probeListener(brokers[0], {
    tls: tls !== undefined,
    cert: tls?.cert,
    key: tls?.key,
    timeoutMs,
  });
  if (listener.kind === "sasl") {
    const offers = `it offers ${listener.mechanisms.join(", ")}`;
    if (sasl === undefined) {
      return {
        message:
          `the broker's listener wants SASL (${offers}): set KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
        fatal: true,
      };
    }
    if (!listener.mechanisms.includes(sasl.mechanism.toUpperCase())) {
      return {
        message:
          `the broker does not offer SASL ${sasl.mechanism.toUpperCase()} (${offers}): set KAFKA_SASL_MECHANISM to one of those`,
        fatal: true,
      };
    }
  } else if (listener.kind === "no-sasl" && sasl !== undefined) {
    return { message: NO_SASL, fatal: true };
  } else if (listener.kind === "client-certificate") {
    return {
      message: tls?.cert
        ? "the broker refused upbus's client certificate: set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE to a certificate signed by a CA the broker trusts"
        : "the broker wants a client certificate (set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE)",
      fatal: true,
    };
  }
  return problem;
}

/**
 * @module Kafka listener probe
 * What kind of listener answers at `host:port`, asked the way Kafka lets anyone ask before
 * authenticating: a TLS handshake (is it TLS?) and a `SaslHandshake` request (does it want SASL,
 * and with which mechanisms?). Used to explain a broker that just closes the connection, which is
 * all kafkajs reports for a listener that wants TLS or SASL. Sends no secret: the handshake names
 * a mechanism and nothing else, and the broker's certificate is not checked (only "is it TLS").
 */
import { Buffer } from "node:buffer";
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";

/** What a listener turned out to be. */
export type ListenerKind =
  /** It answered `SaslHandshake` with its enabled mechanisms: a SASL listener. */
  | { kind: "sasl"; mechanisms: string[] }
  /** It answered `SaslHandshake` with ILLEGAL_SASL_STATE: no SASL on this listener. */
  | { kind: "no-sasl" }
  /** The TLS handshake failed with an alert about the client's certificate. */
  | { kind: "client-certificate" }
  /** Nothing useful: refused, closed, timed out or not Kafka. */
  | { kind: "unknown"; reason: string };

/** Options of {@linkcode probeListener}. */
export interface ProbeOptions {
  /** Speak TLS (certificate not verified). */
  tls: boolean;
  /** Client certificate and key to offer, PEM, as the real client would. */
  cert?: string;
  /** The client certificate's private key, PEM, with `cert`. */
  key?: string;
  /** How long the whole probe may take; default 3000 ms. */
  timeoutMs?: number;
}

const SASL_HANDSHAKE = 17;
const ILLEGAL_SASL_STATE = 34;

/** A SaslHandshake v1 request naming PLAIN (any name will do: the answer lists all enabled). */
function saslHandshakeRequest(correlationId: number): Buffer {
  const clientId = Buffer.from("upbus-probe");
  const mechanism = Buffer.from("PLAIN");
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 2 + mechanism.length);
  let at = 0;
  at = body.writeInt16BE(SASL_HANDSHAKE, at);
  at = body.writeInt16BE(1, at);
  at = body.writeInt32BE(correlationId, at);
  at = body.writeInt16BE(clientId.length, at);
  at += clientId.copy(body, at);
  at = body.writeInt16BE(mechanism.length, at);
  mechanism.copy(body, at);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/** Parses a SaslHandshake v1 response (after its size): correlation id, error, mechanisms. */
function parseResponse(frame: Buffer, correlationId: number): ListenerKind {
  if (frame.length < 10 || frame.readInt32BE(0) !== correlationId) {
    return { kind: "unknown", reason: "not a Kafka answer" };
  }
  const error = frame.readInt16BE(4);
  const count = frame.readInt32BE(6);
  const mechanisms: string[] = [];
  let at = 10;
  for (let i = 0; i < count && at + 2 <= frame.length; i++) {
    const length = frame.readInt16BE(at);
    mechanisms.push(frame.toString("utf8", at + 2, at + 2 + length));
    at += 2 + length;
  }
  if (error === ILLEGAL_SASL_STATE) return { kind: "no-sasl" };
  if (mechanisms.length > 0) return { kind: "sasl", mechanisms };
  return { kind: "unknown", reason: `SaslHandshake error ${error}` };
}

const CERTIFICATE_ALERT =
  /alert:? ?(BadCertificate|CertificateRequired|UnknownCA|bad certificate|certificate required|unknown ca)/i;

/**
 * Asks a listener what it is.
 *
 * @param broker `host:port` (`[v6]:port` too).
 * @param options Whether to speak TLS, a client certificate, a time limit.
 * @returns What the listener is, or `unknown` with the reason.
 *
 * @example
 * ```ts ignore
 * import { probeListener } from "./listener_probe.ts";
 * const kind = await probeListener("127.0.0.1:9093", { tls: true });
 * if (kind.kind === "sasl") console.log(kind.mechanisms);
 * ```
 */
export function probeListener(broker: string, options: ProbeOptions): Promise<ListenerKind> {
  const split = broker.lastIndexOf(":");
  const host = broker.slice(0, split).replace(/^\[|\]$/g, "");
  const port = Number(broker.slice(split + 1));
  const correlationId = 0x5a51;
  return new Promise((resolve) => {
    let settled = false;
    let received = Buffer.alloc(0);
    const socket: Socket = options.tls
      ? connectTls({
        host,
        port,
        rejectUnauthorized: false,
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      })
      : connectTcp({ host, port });
    const done = (kind: ListenerKind) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      resolve(kind);
    };
    const timer = setTimeout(
      () => done({ kind: "unknown", reason: "no answer in time" }),
      options.timeoutMs ?? 3000,
    );
    socket.once(options.tls ? "secureConnect" : "connect", () => {
      socket.write(saslHandshakeRequest(correlationId));
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const size = received.readInt32BE(0);
      if (size < 0 || size > 64 * 1024) return done({ kind: "unknown", reason: "not Kafka" });
      if (received.length >= 4 + size) {
        done(parseResponse(received.subarray(4, 4 + size), correlationId));
      }
    });
    socket.once("error", (error: Error) => {
      done(
        CERTIFICATE_ALERT.test(error.message)
          ? { kind: "client-certificate" }
          : { kind: "unknown", reason: error.message },
      );
    });
    socket.once("close", () => done({ kind: "unknown", reason: "closed without an answer" }));
  });
}

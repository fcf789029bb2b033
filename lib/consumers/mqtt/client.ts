/**
 * @module MQTT client
 * The `mqtt` consumer's one connection to the broker, through MQTT.js: a last will that marks
 * upbus `offline` (retained) when the connection drops without a goodbye, reconnection with a
 * doubling backoff (1 s to 30 s) across a broker restart, QoS 1 publishes that resolve once the
 * broker acknowledged them (MQTT.js resends an unacknowledged one after a reconnect), and the
 * first connection checked at startup so that a wrong address or password stops the command
 * with a message naming the setting.
 */
import type { Logger } from "../../runtime/log.ts";
import type { MqttSettings } from "./settings.ts";

/** Options for {@linkcode connectMqtt}. */
export interface ConnectMqttOptions {
  /** The retained message the broker publishes when upbus goes without a goodbye. */
  will: { topic: string; payload: string };
  /** Topics to subscribe to (QoS 1), again after every reconnect. */
  subscribe: string[];
  /** Called after every (re)connection, once the subscriptions are made. */
  onConnect(): void;
  /** Called for each message on a subscribed topic. */
  onMessage(topic: string, payload: string, retained: boolean): void;
  /** Where connection trouble is told. */
  logger: Logger;
  /** First reconnect delay, ms; doubles up to `maxBackoffMs`. Default 1000. */
  initialBackoffMs?: number;
  /** Longest reconnect delay, ms. Default 30 000. */
  maxBackoffMs?: number;
  /** How long the first connection may take before startup fails, ms. Default 15 000. */
  connectTimeoutMs?: number;
}

/** A connected MQTT client. */
export interface MqttConnection {
  /** Whether the connection is up now. */
  readonly connected: boolean;
  /**
   * Publishes; resolves once the broker acknowledged it (QoS 1) or it was written (QoS 0).
   * While disconnected it waits in MQTT.js's queue and goes out after the reconnect.
   */
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /**
   * Publishes `goodbye` (retained, QoS 1) when connected, then disconnects cleanly (no last will).
   */
  close(goodbye?: { topic: string; payload: string }): Promise<void>;
}

const AUTH_CODES = new Set([4, 5, 134, 135]);
/** Node's codes for a certificate chain that does not lead to a trusted CA, or the wrong host. */
const TLS_TRUST = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/;

function describe(error: Error & { code?: string | number }): string {
  if (error.code === "ECONNREFUSED") return "connection refused";
  if (error.code === "ENOTFOUND") return "no such host";
  if (error.code === "ETIMEDOUT") return "connection timed out";
  return error.message;
}

/**
 * Connects to the broker and waits for the first connection.
 *
 * @param settings The broker (`MQTT_URL`), credentials and CA.
 * @param options Last will, subscriptions, callbacks, backoff.
 * @returns The connection.
 * @throws {TypeError} If the broker refused the credentials (names `MQTT_USERNAME` and
 * `MQTT_PASSWORD`), or cannot be reached within the time limit (names `MQTT_URL`).
 */
export async function connectMqtt(
  settings: MqttSettings,
  options: ConnectMqttOptions,
): Promise<MqttConnection> {
  const { logger } = options;
  // Loaded here, not at the top: only this consumer pays for MQTT.js and its permissions.
  const { default: mqtt } = await import("./mqtt_js.ts");
  const initialBackoff = options.initialBackoffMs ?? 1000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  let backoff = initialBackoff;
  let everConnected = false;
  let closing = false;
  const client = mqtt.connect(settings.url, {
    clientId: `upbus-${crypto.randomUUID().slice(0, 8)}`,
    clean: true,
    username: settings.username,
    password: settings.password,
    ca: settings.ca,
    reconnectPeriod: initialBackoff,
    connectTimeout: 10_000,
    keepalive: 30,
    resubscribe: true,
    will: { topic: options.will.topic, payload: options.will.payload, qos: 1, retain: true },
  });
  const { promise: first, resolve, reject } = Promise.withResolvers<void>();
  let lastError = "";
  const timer = setTimeout(() => {
    const seconds = (options.connectTimeoutMs ?? 15_000) / 1000;
    reject(
      new TypeError(
        `Cannot connect to the MQTT broker at ${settings.url}: ${
          lastError ? `${lastError} for ${seconds} s` : `no answer within ${seconds} s`
        }; check MQTT_URL and that the broker runs`,
      ),
    );
  }, options.connectTimeoutMs ?? 15_000);
  client.on("error", (error: Error & { code?: string | number }) => {
    if (typeof error.code === "number" && AUTH_CODES.has(error.code)) {
      const message =
        `Cannot connect to the MQTT broker at ${settings.url}: it refused the credentials (${error.message}); check MQTT_USERNAME and MQTT_PASSWORD or MQTT_PASSWORD_FILE`;
      if (!everConnected) reject(new TypeError(message));
      else logger.error(message);
      return;
    }
    if (!everConnected && typeof error.code === "string" && TLS_TRUST.test(error.code)) {
      reject(
        new TypeError(
          `Cannot connect to the MQTT broker at ${settings.url}: its TLS certificate is not trusted (${error.message}); ${
            settings.caFile
              ? `MQTT_CA_FILE (${settings.caFile}) is not the CA that signed it`
              : "set MQTT_CA_FILE to the CA that signed it"
          }`,
        ),
      );
      return;
    }
    if (!everConnected) {
      lastError = describe(error);
      return;
    }
    logger.warn("MQTT broker connection failed; reconnecting", {
      url: settings.url,
      error: describe(error),
      retryInMs: backoff,
    });
  });
  let up = false;
  client.on("close", () => {
    if (closing) return;
    if (up) logger.warn("MQTT broker connection lost; reconnecting", { url: settings.url });
    up = false;
    client.options.reconnectPeriod = backoff;
    backoff = Math.min(backoff * 2, maxBackoff);
    if (!everConnected && lastError) {
      logger.warn("cannot reach the MQTT broker yet; retrying", {
        url: settings.url,
        error: lastError,
        retryInMs: client.options.reconnectPeriod,
      });
    }
  });
  client.on("connect", () => {
    up = true;
    backoff = initialBackoff;
    client.options.reconnectPeriod = initialBackoff;
    if (everConnected) logger.info("MQTT broker connection back", { url: settings.url });
    everConnected = true;
    client.subscribeAsync(options.subscribe, { qos: 1 }).then(
      () => {
        resolve();
        options.onConnect();
      },
      (error: Error) => logger.warn("cannot subscribe", { error: error.message }),
    );
  });
  client.on("message", (topic, payload, packet) => {
    options.onMessage(topic, new TextDecoder().decode(payload), packet.retain);
  });
  try {
    await first;
  } catch (error) {
    closing = true;
    await client.endAsync(true);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    get connected() {
      return client.connected;
    },
    publish(topic, payload, publishOptions) {
      return new Promise((done, fail) => {
        client.publish(topic, payload, publishOptions, (error) => error ? fail(error) : done());
      });
    },
    async close(goodbye) {
      closing = true;
      if (goodbye !== undefined && client.connected) {
        const sent = client.publishAsync(goodbye.topic, goodbye.payload, { qos: 1, retain: true });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise((done) => timer = setTimeout(done, 2000));
        await Promise.race([sent.catch(() => {}), timeout]);
        clearTimeout(timer);
      }
      await client.endAsync(!client.connected);
    },
  };
}

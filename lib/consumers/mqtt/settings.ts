/**
 * @module MQTT settings
 * The `mqtt` consumer's configuration, read once at startup from `MQTT_URL`, `MQTT_USERNAME`,
 * `MQTT_PASSWORD` or `MQTT_PASSWORD_FILE`, `MQTT_CA_FILE`, `MQTT_DISCOVERY_PREFIX` and
 * `MQTT_TOPIC_PREFIX`. A wrong value stops the command with a message that names the variable
 * and what a valid value looks like; the password is never part of a message.
 */

/** What the `mqtt` consumer connects to and where it publishes. */
export interface MqttSettings {
  /** `MQTT_URL`: `mqtt://host:port` or `mqtts://host:port`, without credentials. */
  url: string;
  /** `MQTT_USERNAME`, when set. */
  username?: string;
  /** `MQTT_PASSWORD`, or the first line of `MQTT_PASSWORD_FILE`. A secret: never logged. */
  password?: string;
  /** The PEM text of `MQTT_CA_FILE`, to trust a broker's private CA (`mqtts://`). */
  ca?: string;
  /** `MQTT_CA_FILE` itself, for messages. */
  caFile?: string;
  /** `MQTT_DISCOVERY_PREFIX`, default `homeassistant`. */
  discoveryPrefix: string;
  /** `MQTT_TOPIC_PREFIX`, default `upbus`: the root of the state, event and status topics. */
  topicPrefix: string;
}

/** The variables {@linkcode loadMqttSettings} reads. */
export const MQTT_VARIABLES = [
  "MQTT_URL",
  "MQTT_USERNAME",
  "MQTT_PASSWORD",
  "MQTT_PASSWORD_FILE",
  "MQTT_CA_FILE",
  "MQTT_DISCOVERY_PREFIX",
  "MQTT_TOPIC_PREFIX",
] as const;

/** Options for {@linkcode loadMqttSettings}. */
export interface LoadMqttSettingsOptions {
  /** Reads a file's text (the password file, the CA). Default `Deno.readTextFileSync`. */
  readTextFile?: (path: string) => string;
}

function topicPrefix(name: string, value: string | undefined, fallback: string): string {
  const prefix = value?.trim() || fallback;
  if (
    /[#+]/.test(prefix) || prefix.includes("\u0000") || prefix.startsWith("/") ||
    prefix.endsWith("/") ||
    prefix.includes("//")
  ) {
    throw new TypeError(
      `Cannot read ${name}: "${prefix}" is not a topic prefix (levels separated by "/", no "+", "#", leading or trailing "/"), e.g. ${fallback}`,
    );
  }
  return prefix;
}

function readFile(
  name: string,
  path: string,
  read: (path: string) => string,
): string {
  try {
    return read(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new TypeError(`Cannot read ${name}: ${path}: ${why}`);
  }
}

/**
 * Reads the `mqtt` consumer's settings.
 *
 * @param env Reads a variable (`Deno.env.get`, or a test's map).
 * @param options How files are read.
 * @returns The settings.
 * @throws {TypeError} If `MQTT_URL` is missing or not an `mqtt://`/`mqtts://` URL, a file cannot
 * be read, or a prefix is not a topic prefix; the message names the variable.
 *
 * @example
 * ```ts
 * import { loadMqttSettings } from "./settings.ts";
 * const env: Record<string, string> = { MQTT_URL: "mqtt://127.0.0.1:1883" };
 * const settings = loadMqttSettings((name) => env[name]);
 * if (settings.discoveryPrefix !== "homeassistant" || settings.topicPrefix !== "upbus") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function loadMqttSettings(
  env: (name: string) => string | undefined,
  options: LoadMqttSettingsOptions = {},
): MqttSettings {
  const read = options.readTextFile ?? Deno.readTextFileSync;
  const raw = env("MQTT_URL")?.trim();
  if (!raw) {
    throw new TypeError(
      "Cannot publish to MQTT: MQTT_URL is not set (the broker, e.g. mqtt://127.0.0.1:1883 or mqtts://broker.local:8883)",
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(
      "Cannot read MQTT_URL: it is not a URL, expected mqtt://host:port or mqtts://host:port",
    );
  }
  if (url.protocol !== "mqtt:" && url.protocol !== "mqtts:") {
    throw new TypeError(
      `Cannot read MQTT_URL: "${url.protocol}" is not supported, expected mqtt://host:port or mqtts://host:port`,
    );
  }
  if (url.username || url.password) {
    throw new TypeError(
      "Cannot read MQTT_URL: it holds credentials; set MQTT_USERNAME and MQTT_PASSWORD (or MQTT_PASSWORD_FILE) instead",
    );
  }
  const settings: MqttSettings = {
    url: `${url.protocol}//${url.host}`,
    discoveryPrefix: topicPrefix(
      "MQTT_DISCOVERY_PREFIX",
      env("MQTT_DISCOVERY_PREFIX"),
      "homeassistant",
    ),
    topicPrefix: topicPrefix("MQTT_TOPIC_PREFIX", env("MQTT_TOPIC_PREFIX"), "upbus"),
  };
  const username = env("MQTT_USERNAME");
  if (username) settings.username = username;
  const password = env("MQTT_PASSWORD");
  const passwordFile = env("MQTT_PASSWORD_FILE");
  if (password && passwordFile) {
    throw new TypeError(
      "Cannot read the MQTT password: both MQTT_PASSWORD and MQTT_PASSWORD_FILE are set, keep one",
    );
  }
  if (password) settings.password = password;
  if (passwordFile) {
    settings.password = readFile("MQTT_PASSWORD_FILE", passwordFile, read).split(/\r?\n/)[0];
  }
  const caFile = env("MQTT_CA_FILE");
  if (caFile) {
    settings.caFile = caFile;
    settings.ca = readFile("MQTT_CA_FILE", caFile, read);
    if (!settings.ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new TypeError(`Cannot read MQTT_CA_FILE: ${caFile} holds no PEM certificate`);
    }
  }
  return settings;
}

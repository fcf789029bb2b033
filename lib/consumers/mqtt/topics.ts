/**
 * @module MQTT topics and ids
 * Where the `mqtt` consumer publishes, and the ids Home Assistant sees: every id is made of
 * `[a-zA-Z0-9_-]` only (what Home Assistant's discovery topic accepts) and derived from Up's
 * account id alone, so it is the same on every start.
 */

/**
 * An id Home Assistant accepts: anything outside `[a-zA-Z0-9_-]` becomes `_`.
 *
 * @param value Any text.
 * @returns The id.
 *
 * @example
 * ```ts
 * import { safeId } from "./topics.ts";
 * if (safeId("a.b c") !== "a_b_c") throw new Error("unexpected");
 * ```
 */
export function safeId(value: string): string {
  return value.replace(/[^a-zA-Z0-9_-]/g, "_");
}

/** The topics of one account and of the consumer. */
export interface MqttTopics {
  /** Availability of every entity: `online` or `offline` (retained; the last will). */
  status: string;
  /** Home Assistant's birth and last will: `online` asks for discovery again. */
  homeAssistantStatus: string;
  /** The device discovery topic of an account. */
  discovery(accountId: string): string;
  /** An account's figures, JSON (retained). */
  state(accountId: string): string;
  /** An account's latest transaction, JSON (retained). */
  lastTransaction(accountId: string): string;
  /** An account's transaction events, JSON (never retained). */
  event(accountId: string): string;
}

/**
 * The topics under the two prefixes.
 *
 * @param options `discoveryPrefix` (Home Assistant's, `homeassistant`) and `topicPrefix` (`upbus`).
 * @returns The topics.
 *
 * @example
 * ```ts
 * import { mqttTopics } from "./topics.ts";
 * const topics = mqttTopics({ discoveryPrefix: "homeassistant", topicPrefix: "upbus" });
 * if (topics.discovery("acc-1") !== "homeassistant/device/upbus_acc-1/config") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function mqttTopics(
  options: { discoveryPrefix: string; topicPrefix: string },
): MqttTopics {
  const { discoveryPrefix, topicPrefix } = options;
  const account = (accountId: string) => `${topicPrefix}/account/${safeId(accountId)}`;
  return {
    status: `${topicPrefix}/status`,
    homeAssistantStatus: `${discoveryPrefix}/status`,
    discovery: (accountId) => `${discoveryPrefix}/device/${deviceId(accountId)}/config`,
    state: (accountId) => `${account(accountId)}/state`,
    lastTransaction: (accountId) => `${account(accountId)}/last_transaction`,
    event: (accountId) => `${account(accountId)}/event`,
  };
}

/**
 * The Home Assistant device id of an Up account.
 *
 * @param accountId Up's account id.
 * @returns `upbus_<account id>`, in allowed characters.
 */
export function deviceId(accountId: string): string {
  return `upbus_${safeId(accountId)}`;
}

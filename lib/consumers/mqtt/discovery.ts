/**
 * @module Home Assistant device discovery
 * The retained device-based discovery payload (`<prefix>/device/<id>/config`) of one Up account:
 * the device (name as Up shows it, 2Up visible in the model), the origin, the availability
 * shared by every component, and the components: balance, spent today, spent this month, last
 * transaction (sensors) and the transaction event entity. Keys are Home Assistant's full names
 * except the root's `dev`, `o` and `cmps` and the components' `p`, the abbreviations of its
 * documented example.
 */
import type { AccountResource } from "../../up/types.ts";
import { deviceId, type MqttTopics } from "./topics.ts";
import { EVENT_TYPES } from "./events.ts";

/** Who publishes the discovery messages: Home Assistant logs it with each device. */
export const ORIGIN = {
  name: "upbus",
  sw: "0.1.0",
  url: "https://github.com/upbus/upbus",
} as const;

/** A device discovery payload, as published (JSON). */
export type DiscoveryPayload = Record<string, unknown>;

function monetary(
  name: string,
  uniqueId: string,
  stateTopic: string,
  field: string,
  currency: string,
): Record<string, unknown> {
  return {
    p: "sensor",
    name,
    unique_id: uniqueId,
    state_topic: stateTopic,
    qos: 1,
    value_template: `{{ value_json.${field} }}`,
    device_class: "monetary",
    unit_of_measurement: currency,
    suggested_display_precision: 2,
  };
}

/**
 * The discovery payload of one account.
 *
 * Balance has no `state_class` (a balance is neither a measurement nor a running total: Home
 * Assistant's Monzo integration does the same). Spent today and this month are running totals
 * that restart each day and month, which is Home Assistant's `state_class: total` with a
 * `last_reset` (the only state class it allows for `monetary`): long-term statistics then sum
 * the spend correctly across the resets, and a deleted purchase counts as a decrease.
 *
 * @param account The account as `GET /accounts` returned it.
 * @param topics Where its state and events are.
 * @returns The payload.
 *
 * @example
 * ```ts ignore
 * const payload = discoveryPayload(account, mqttTopics({ discoveryPrefix: "homeassistant", topicPrefix: "upbus" }));
 * ```
 */
export function discoveryPayload(account: AccountResource, topics: MqttTopics): DiscoveryPayload {
  const id = deviceId(account.id);
  const { displayName, accountType, ownershipType, balance } = account.attributes;
  const currency = balance.currencyCode;
  const state = topics.state(account.id);
  const kind = accountType === "TRANSACTIONAL"
    ? "Spending account"
    : accountType === "SAVER"
    ? "Saver"
    : accountType === "HOME_LOAN"
    ? "Home loan"
    : accountType;
  return {
    dev: {
      identifiers: [id],
      name: displayName,
      manufacturer: "Up",
      model: ownershipType === "JOINT" ? `${kind} (2Up, joint)` : kind,
    },
    o: ORIGIN,
    availability_topic: topics.status,
    cmps: {
      balance: monetary("Balance", `${id}_balance`, state, "balance", currency),
      spent_today: {
        ...monetary("Spent today", `${id}_spent_today`, state, "spent_today", currency),
        state_class: "total",
        last_reset_value_template: "{{ value_json.today_start }}",
        icon: "mdi:cart-outline",
      },
      spent_month: {
        ...monetary("Spent this month", `${id}_spent_month`, state, "spent_month", currency),
        state_class: "total",
        last_reset_value_template: "{{ value_json.month_start }}",
        icon: "mdi:calendar-month-outline",
      },
      last_transaction: {
        p: "sensor",
        name: "Last transaction",
        unique_id: `${id}_last_transaction`,
        state_topic: topics.lastTransaction(account.id),
        qos: 1,
        value_template: "{{ value_json.description }}",
        json_attributes_topic: topics.lastTransaction(account.id),
        icon: "mdi:receipt-text-outline",
      },
      transaction: {
        p: "event",
        name: "Transaction",
        unique_id: `${id}_transaction`,
        state_topic: topics.event(account.id),
        // Home Assistant subscribes with QoS 0 unless told: an event could then be dropped.
        qos: 1,
        event_types: [...EVENT_TYPES],
        icon: "mdi:swap-horizontal",
      },
    },
  };
}

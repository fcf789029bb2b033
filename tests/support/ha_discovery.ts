/**
 * @module Home Assistant discovery checker
 * Checks a device-based MQTT discovery message the way Home Assistant (2025.x) reads it, after
 * its source, `homeassistant/components/mqtt/`: the topic against `discovery.py`'s
 * `TOPIC_MATCHER` (ids of `[a-zA-Z0-9_-]` only), abbreviations expanded as `abbreviations.py`
 * lists them (root, `origin`, `device`, each component), the root against `schemas.py`'s
 * `DEVICE_DISCOVERY_SCHEMA` (which refuses unknown root keys, so the whole device is dropped),
 * the origin against `MQTT_ORIGIN_INFO_SCHEMA` (`name` required, `support_url` a URL), the
 * device (an identifier or a connection), then every component with the shared root options
 * inherited (`SHARED_OPTIONS`) against its platform: `sensor.py` (state topic, device and state
 * classes, `last_reset_value_template` only with `total`, and the sensor integration's rule that
 * `monetary` allows no state class but `total`, with an ISO 4217 unit), `event.py` (a list of
 * event types). Stricter than Home Assistant in one way on purpose: a component key it would
 * silently drop (`REMOVE_EXTRA`) is reported, since it is a mistake that loses a feature.
 */

/** Root and component abbreviations used by discovery (a subset of `ABBREVIATIONS`). */
const ABBREVIATIONS: Record<string, string> = {
  avty: "availability",
  avty_mode: "availability_mode",
  avty_t: "availability_topic",
  avty_tpl: "availability_template",
  cmps: "components",
  cmd_t: "command_topic",
  def_ent_id: "default_entity_id",
  dev: "device",
  dev_cla: "device_class",
  e: "encoding",
  en: "enabled_by_default",
  ent_cat: "entity_category",
  ent_pic: "entity_picture",
  evt_typ: "event_types",
  exp_aft: "expire_after",
  frc_upd: "force_update",
  ic: "icon",
  json_attr_t: "json_attributes_topic",
  json_attr_tpl: "json_attributes_template",
  lrst_val_tpl: "last_reset_value_template",
  o: "origin",
  obj_id: "object_id",
  ops: "options",
  p: "platform",
  pl_avail: "payload_available",
  pl_not_avail: "payload_not_available",
  qos: "qos",
  stat_cla: "state_class",
  stat_t: "state_topic",
  sug_dsp_prc: "suggested_display_precision",
  t: "topic",
  uniq_id: "unique_id",
  unit_of_meas: "unit_of_measurement",
  val_tpl: "value_template",
};
const DEVICE_ABBREVIATIONS: Record<string, string> = {
  cns: "connections",
  cu: "configuration_url",
  hw: "hw_version",
  ids: "identifiers",
  mdl: "model",
  mdl_id: "model_id",
  mf: "manufacturer",
  sa: "suggested_area",
  sn: "serial_number",
  sw: "sw_version",
};
const ORIGIN_ABBREVIATIONS: Record<string, string> = {
  sw: "sw_version",
  url: "support_url",
};

/** `SHARED_OPTIONS`: root options every component inherits unless it sets its own. */
const SHARED_OPTIONS = [
  "availability",
  "availability_mode",
  "availability_template",
  "availability_topic",
  "command_topic",
  "payload_available",
  "payload_not_available",
  "state_topic",
];

/** `DEVICE_DISCOVERY_SCHEMA`'s keys (no extra key is allowed at the root). */
const ROOT_KEYS = new Set([
  ...SHARED_OPTIONS,
  "device",
  "components",
  "origin",
  "qos",
  "encoding",
]);
const DEVICE_KEYS = new Set([
  "identifiers",
  "connections",
  "manufacturer",
  "model",
  "model_id",
  "name",
  "hw_version",
  "serial_number",
  "sw_version",
  "via_device",
  "suggested_area",
  "configuration_url",
]);
const ORIGIN_KEYS = new Set(["name", "sw_version", "support_url"]);

/** `MQTT_ENTITY_COMMON_SCHEMA` with availability, and `MQTT_RO_SCHEMA`. */
const ENTITY_KEYS = [
  ...SHARED_OPTIONS,
  "platform",
  "device",
  "origin",
  "default_entity_id",
  "enabled_by_default",
  "entity_category",
  "entity_picture",
  "icon",
  "json_attributes_topic",
  "json_attributes_template",
  "object_id",
  "unique_id",
  "name",
  "encoding",
  "qos",
  "value_template",
];
const PLATFORM_KEYS: Record<string, Set<string>> = {
  sensor: new Set([
    ...ENTITY_KEYS,
    "device_class",
    "expire_after",
    "force_update",
    "last_reset_value_template",
    "options",
    "suggested_display_precision",
    "state_class",
    "unit_of_measurement",
  ]),
  event: new Set([...ENTITY_KEYS, "device_class", "event_types"]),
};
/** Some of `SensorDeviceClass`: what a bank's sensors could use. */
const SENSOR_DEVICE_CLASSES = new Set(["monetary", "timestamp", "date", "enum", "duration"]);
const STATE_CLASSES = new Set(["measurement", "measurement_angle", "total", "total_increasing"]);
const EVENT_DEVICE_CLASSES = new Set(["button", "doorbell", "motion"]);

const ID = /^[a-zA-Z0-9_-]+$/;

function expand(
  payload: Record<string, unknown>,
  table: Record<string, string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) out[table[key] ?? key] = value;
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function validTopic(value: unknown): boolean {
  return typeof value === "string" && value.length > 0 && !/[#+]/.test(value) &&
    !value.includes("\u0000");
}

/** A component as Home Assistant sets it up: full key names, root options inherited. */
export interface CheckedComponent {
  /** The key in `components`: the component's object id. */
  id: string;
  platform: string;
  config: Record<string, unknown>;
}

/** What {@linkcode checkDeviceDiscovery} found. */
export interface DiscoveryCheck {
  /** Every reason Home Assistant would refuse the message or lose part of it; empty if none. */
  errors: string[];
  /** The device id from the topic. */
  deviceId: string;
  device: Record<string, unknown>;
  origin: Record<string, unknown>;
  components: CheckedComponent[];
}

/**
 * Checks one retained device discovery message.
 *
 * @param topic Its topic, e.g. `homeassistant/device/upbus_x/config`.
 * @param text Its payload.
 * @param options `discoveryPrefix`, default `homeassistant`.
 * @returns The findings, with the components as Home Assistant would configure them.
 */
export function checkDeviceDiscovery(
  topic: string,
  text: string,
  options: { discoveryPrefix?: string } = {},
): DiscoveryCheck {
  const errors: string[] = [];
  const prefix = options.discoveryPrefix ?? "homeassistant";
  const result: DiscoveryCheck = { errors, deviceId: "", device: {}, origin: {}, components: [] };
  const rest = topic.startsWith(`${prefix}/`) ? topic.slice(prefix.length + 1) : undefined;
  const match = rest?.match(/^device\/(?:([a-zA-Z0-9_-]+)\/)?([a-zA-Z0-9_-]+)\/config$/);
  if (!match) {
    errors.push(`topic ${topic} is not ${prefix}/device/<id>/config with an id of [a-zA-Z0-9_-]`);
    return result;
  }
  result.deviceId = match[2];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    errors.push("payload is not JSON");
    return result;
  }
  if (!isObject(parsed)) {
    errors.push("payload is not a JSON object");
    return result;
  }
  const root = expand(parsed, ABBREVIATIONS);
  for (const key of Object.keys(root)) {
    if (!ROOT_KEYS.has(key)) errors.push(`root: extra key "${key}" not allowed`);
  }
  for (const key of ["device", "components", "origin"]) {
    if (!(key in root)) errors.push(`root: required key "${key}" missing`);
  }
  if ("availability" in root && "availability_topic" in root) {
    errors.push("root: availability and availability_topic are exclusive");
  }
  if ("availability_topic" in root && !validTopic(root.availability_topic)) {
    errors.push("root: availability_topic is not a valid topic");
  }
  if ("qos" in root && ![0, 1, 2].includes(root.qos as number)) {
    errors.push("root: qos must be 0, 1 or 2");
  }
  if (isObject(root.device)) {
    const device = expand(root.device, DEVICE_ABBREVIATIONS);
    result.device = device;
    for (const [key, value] of Object.entries(device)) {
      if (!DEVICE_KEYS.has(key)) errors.push(`device: extra key "${key}" not allowed`);
      else if (key !== "identifiers" && key !== "connections" && typeof value !== "string") {
        errors.push(`device: ${key} must be a string`);
      }
    }
    const ids = device.identifiers === undefined
      ? []
      : Array.isArray(device.identifiers)
      ? device.identifiers
      : [device.identifiers];
    const connections = Array.isArray(device.connections) ? device.connections : [];
    if (ids.length === 0 && connections.length === 0) {
      errors.push("device: needs at least one identifier or connection");
    }
    if (ids.some((id) => typeof id !== "string")) errors.push("device: identifiers are strings");
  } else if ("device" in root) errors.push("device: must be an object");
  if (isObject(root.origin)) {
    const origin = expand(root.origin, ORIGIN_ABBREVIATIONS);
    result.origin = origin;
    for (const key of Object.keys(origin)) {
      if (!ORIGIN_KEYS.has(key)) errors.push(`origin: extra key "${key}" not allowed`);
    }
    if (typeof origin.name !== "string" || origin.name === "") {
      errors.push("origin: name is required");
    }
    if ("sw_version" in origin && typeof origin.sw_version !== "string") {
      errors.push("origin: sw_version must be a string");
    }
    if ("support_url" in origin) {
      let ok = false;
      try {
        ok = ["http:", "https:"].includes(new URL(String(origin.support_url)).protocol);
      } catch { /* not a URL */ }
      if (!ok) errors.push("origin: support_url is not a valid URL");
    }
  } else if ("origin" in root) errors.push("origin: must be an object");
  if (!isObject(root.components)) {
    if ("components" in root) errors.push("components: must be an object");
    return result;
  }
  const uniqueIds = new Set<string>();
  for (const [id, raw] of Object.entries(root.components)) {
    const where = `component ${id}`;
    if (!ID.test(id)) errors.push(`${where}: id is not of [a-zA-Z0-9_-]`);
    if (!isObject(raw)) {
      errors.push(`${where}: must be an object`);
      continue;
    }
    const config = expand(raw, ABBREVIATIONS);
    for (const option of SHARED_OPTIONS) {
      if (option in root && !(option in config)) config[option] = root[option];
    }
    const platform = String(config.platform);
    result.components.push({ id, platform, config });
    const allowed = PLATFORM_KEYS[platform];
    if (allowed === undefined) {
      errors.push(`${where}: platform "${config.platform}" is not checked here or missing`);
      continue;
    }
    for (const key of Object.keys(config)) {
      if (!allowed.has(key)) errors.push(`${where}: key "${key}" is not a ${platform} option`);
    }
    if (typeof config.unique_id !== "string" || !config.unique_id) {
      errors.push(`${where}: unique_id is required`);
    } else if (uniqueIds.has(config.unique_id)) {
      errors.push(`${where}: unique_id ${config.unique_id} is used twice`);
    } else uniqueIds.add(config.unique_id);
    if (typeof config.name !== "string" || !config.name) {
      errors.push(`${where}: name is required (else it is named after its device class)`);
    }
    if (!validTopic(config.state_topic)) errors.push(`${where}: state_topic is required`);
    if ("json_attributes_topic" in config && !validTopic(config.json_attributes_topic)) {
      errors.push(`${where}: json_attributes_topic is not a valid topic`);
    }
    if (platform === "sensor") {
      const deviceClass = config.device_class;
      const stateClass = config.state_class;
      if (deviceClass !== undefined && !SENSOR_DEVICE_CLASSES.has(String(deviceClass))) {
        errors.push(`${where}: unknown sensor device_class ${deviceClass}`);
      }
      if (stateClass !== undefined && !STATE_CLASSES.has(String(stateClass))) {
        errors.push(`${where}: unknown state_class ${stateClass}`);
      }
      if ("last_reset_value_template" in config && stateClass !== "total") {
        errors.push(`${where}: last_reset_value_template needs state_class total`);
      }
      if (deviceClass === "monetary") {
        if (stateClass !== undefined && stateClass !== "total") {
          errors.push(`${where}: monetary allows state_class total only, got ${stateClass}`);
        }
        if (!/^[A-Z]{3}$/.test(String(config.unit_of_measurement))) {
          errors.push(`${where}: monetary needs an ISO 4217 currency as its unit`);
        }
      }
      if (
        "suggested_display_precision" in config &&
        !(Number.isInteger(config.suggested_display_precision) &&
          (config.suggested_display_precision as number) >= 0)
      ) {
        errors.push(`${where}: suggested_display_precision must be a whole number`);
      }
    }
    if (platform === "event") {
      const types = config.event_types;
      if (!Array.isArray(types) || types.length === 0 || types.some((t) => typeof t !== "string")) {
        errors.push(`${where}: event_types must be a non-empty list of strings`);
      }
      if ("device_class" in config && !EVENT_DEVICE_CLASSES.has(String(config.device_class))) {
        errors.push(`${where}: unknown event device_class ${config.device_class}`);
      }
    }
  }
  return result;
}

/**
 * Renders the one template form the checks accept, `{{ value_json.<field> }}`, against a JSON
 * payload, as Home Assistant's `async_render_with_possible_json_value` would.
 *
 * @param template The template.
 * @param payload The message text.
 * @returns The rendered state text.
 * @throws {Error} For any other template, or a field the payload lacks.
 */
export function renderValueTemplate(template: string, payload: string): string {
  const match = template.match(/^\{\{ value_json\.([a-z_]+) \}\}$/);
  if (!match) throw new Error(`Cannot render template ${template}: not {{ value_json.<field> }}`);
  const value = (JSON.parse(payload) as Record<string, unknown>)[match[1]];
  if (value === undefined) {
    throw new Error(`Cannot render ${template}: no ${match[1]} in ${payload}`);
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

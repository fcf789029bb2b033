/**
 * @module MQTT.js loader
 * Loads MQTT.js (npm's `mqtt`) under narrow permissions. MQTT.js logs through the `debug`
 * package, whose Node build lists every environment variable when it loads
 * (`Object.keys(process.env)`), which Deno allows only with access to all of them. Its other
 * build, which `debug` picks when `process.browser` is set, reads `DEBUG` alone; so the flag is
 * set while MQTT.js loads and put back at once. MQTT.js itself still connects over TCP or TLS
 * (it picks its transport from the URL, not from that flag). Import MQTT.js from here only.
 */
import process from "node:process";

type Flagged = { browser?: boolean };
const saved = (process as unknown as Flagged).browser;
(process as unknown as Flagged).browser = true;
let loaded: typeof import("mqtt").default;
try {
  loaded = (await import("mqtt")).default;
} finally {
  if (saved === undefined) delete (process as unknown as Flagged).browser;
  else (process as unknown as Flagged).browser = saved;
}

/** MQTT.js's default export: `connect`, `connectAsync`. */
const mqtt: typeof import("mqtt").default = loaded;
export default mqtt;

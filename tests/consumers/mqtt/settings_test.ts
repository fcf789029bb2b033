/**
 * The `mqtt` consumer's settings and the topics and ids it derives from them: every bad value is
 * one message naming the variable, and never the password.
 */
import assert from "node:assert/strict";
import { loadMqttSettings } from "../../../lib/consumers/mqtt/settings.ts";
import { mqttTopics, safeId } from "../../../lib/consumers/mqtt/topics.ts";

const load = (env: Record<string, string>, files: Record<string, string> = {}) =>
  loadMqttSettings((name) => env[name], {
    readTextFile: (path) => {
      if (!(path in files)) throw new Deno.errors.NotFound(path);
      return files[path];
    },
  });

Deno.test("loadMqttSettings() reads the broker, credentials, CA and prefixes", () => {
  const settings = load(
    {
      MQTT_URL: "mqtts://broker.local:8883",
      MQTT_USERNAME: "upbus",
      MQTT_PASSWORD_FILE: "/run/secrets/mqtt",
      MQTT_CA_FILE: "/etc/ca.pem",
      MQTT_DISCOVERY_PREFIX: "ha",
      MQTT_TOPIC_PREFIX: "home/upbus",
    },
    {
      "/run/secrets/mqtt": "s3cret\n",
      "/etc/ca.pem": "-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n",
    },
  );
  assert.equal(settings.url, "mqtts://broker.local:8883");
  assert.equal(settings.username, "upbus");
  assert.equal(settings.password, "s3cret");
  assert.match(settings.ca!, /BEGIN CERTIFICATE/);
  const topics = mqttTopics(settings);
  assert.equal(topics.discovery("a-1"), "ha/device/upbus_a-1/config");
  assert.equal(topics.homeAssistantStatus, "ha/status");
  assert.equal(topics.state("a-1"), "home/upbus/account/a-1/state");
  assert.equal(topics.status, "home/upbus/status");
});

Deno.test("loadMqttSettings() refuses bad values with one message naming the variable", () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /MQTT_URL is not set .*mqtt:\/\/127\.0\.0\.1:1883/],
    [{ MQTT_URL: "http://broker:1883" }, /Cannot read MQTT_URL: "http:" is not supported/],
    [{ MQTT_URL: "not a url" }, /Cannot read MQTT_URL: it is not a URL/],
    [
      { MQTT_URL: "mqtt://u:hunter2@broker:1883" },
      /MQTT_URL: it holds credentials; set MQTT_USERNAME/,
    ],
    [
      { MQTT_URL: "mqtt://b:1883", MQTT_PASSWORD: "hunter2", MQTT_PASSWORD_FILE: "/x" },
      /both MQTT_PASSWORD and MQTT_PASSWORD_FILE are set/,
    ],
    [
      { MQTT_URL: "mqtt://b:1883", MQTT_PASSWORD_FILE: "/missing" },
      /Cannot read MQTT_PASSWORD_FILE: \/missing: no such file/,
    ],
    [
      { MQTT_URL: "mqtt://b:1883", MQTT_TOPIC_PREFIX: "upbus/#" },
      /Cannot read MQTT_TOPIC_PREFIX: "upbus\/#" is not a topic prefix/,
    ],
    [
      { MQTT_URL: "mqtt://b:1883", MQTT_DISCOVERY_PREFIX: "/ha" },
      /Cannot read MQTT_DISCOVERY_PREFIX/,
    ],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => load(env), (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      assert.ok(!error.message.includes("hunter2"), "the password is never in a message");
      return true;
    });
  }
  assert.throws(
    () => load({ MQTT_URL: "mqtts://b:8883", MQTT_CA_FILE: "/ca" }, { "/ca": "not a cert" }),
    /MQTT_CA_FILE: \/ca holds no PEM certificate/,
  );
});

Deno.test("safeId() keeps Home Assistant's id characters only", () => {
  assert.equal(
    safeId("0f2f5b8e-1c2d-4e5f-a6b7-c8d9e0f1a2b3"),
    "0f2f5b8e-1c2d-4e5f-a6b7-c8d9e0f1a2b3",
  );
  assert.equal(safeId("a/b+c#d é"), "a_b_c_d__");
});

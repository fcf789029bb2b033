import assert from "node:assert/strict";
import { type ConfigVariable, loadConfig } from "../../lib/service/config.ts";
import { loadPipelineConfig } from "../../lib/service/pipeline_config.ts";

function env(values: Partial<Record<ConfigVariable, string>>) {
  return (name: ConfigVariable) => values[name];
}

Deno.test("loadConfig() applies the documented defaults", () => {
  const config = loadConfig(env({}));
  assert.deepEqual(config, {
    port: 8080,
    host: "0.0.0.0",
    webhookSecrets: [],
    kafkaBrokers: [],
    kafkaTopic: "up.webhook-events",
    kafkaClientId: "upbus",
    kafkaConnection: {},
    kafkaTopicPartitions: 3,
    kafkaReplicationFactor: -1,
    dataDir: "./data",
    maxBodyBytes: 262144,
    logLevel: "info",
    opsHost: "127.0.0.1",
    relayStallSeconds: 30,
    headersTimeoutSeconds: 10,
    requestTimeoutSeconds: 20,
    idleTimeoutSeconds: 5,
    maxConnections: 256,
    maxConnectionsPerClient: 32,
  });
});

Deno.test("loadConfig() splits comma-separated secrets and brokers, trimming blanks", () => {
  const config = loadConfig(env({
    UP_WEBHOOK_SECRETS: " old , new,, ",
    KAFKA_BROKERS: "127.0.0.1:9092, kafka-2.internal:19092,[::1]:9093",
  }));
  assert.deepEqual(config.webhookSecrets, ["old", "new"]);
  assert.deepEqual(config.kafkaBrokers, ["127.0.0.1:9092", "kafka-2.internal:19092", "[::1]:9093"]);
});

Deno.test("loadConfig() names the variable and a valid value when one is wrong", async (t) => {
  const cases: Array<[Partial<Record<ConfigVariable, string>>, RegExp]> = [
    [{ PORT: "eighty" }, /PORT is "eighty", expected a whole number from 0 to 65535/],
    [{ PORT: "70000" }, /PORT is "70000"/],
    [{ MAX_BODY_BYTES: "10" }, /MAX_BODY_BYTES is "10", expected a whole number from 1024/],
    [{ KAFKA_BROKERS: "localhost" }, /KAFKA_BROKERS entry "localhost" is not host:port/],
    [{ KAFKA_TOPIC: "has spaces" }, /KAFKA_TOPIC is "has spaces"/],
    [{ KAFKA_TOPIC_PARTITIONS: "0" }, /KAFKA_TOPIC_PARTITIONS is "0"/],
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL is "loud", expected one of debug, info, warn, error/],
    [{ OPS_PORT: "metrics" }, /OPS_PORT is "metrics", expected a whole number from 0 to 65535/],
    [{ HEADERS_TIMEOUT_SECONDS: "0" }, /HEADERS_TIMEOUT_SECONDS is "0", expected a whole number/],
    [{ REQUEST_TIMEOUT_SECONDS: "1.5" }, /REQUEST_TIMEOUT_SECONDS is "1.5"/],
    [{ IDLE_TIMEOUT_SECONDS: "never" }, /IDLE_TIMEOUT_SECONDS is "never"/],
    [{ MAX_CONNECTIONS: "0" }, /MAX_CONNECTIONS is "0", expected a whole number from 1/],
    [{ MAX_CLIENT_CONNECTIONS: "-1" }, /MAX_CLIENT_CONNECTIONS is "-1"/],
    [
      { HEADERS_TIMEOUT_SECONDS: "30", REQUEST_TIMEOUT_SECONDS: "20" },
      /HEADERS_TIMEOUT_SECONDS \(30\) is more than REQUEST_TIMEOUT_SECONDS \(20\)/,
    ],
  ];
  for (const [values, message] of cases) {
    await t.step(Object.keys(values)[0], () => {
      assert.throws(() => loadConfig(env(values)), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("loadPipelineConfig() takes no brokers as embedded mode and names each bad variable", async (t) => {
  const base = { KAFKA_BROKERS: "127.0.0.1:9092" };
  const config = loadPipelineConfig((name) => (base as Record<string, string>)[name]);
  assert.equal(config.transactionsTopic, "up.transactions");
  assert.equal(config.dashboardPort, 8081);
  assert.equal(config.timeZone, "Australia/Sydney");
  assert.equal(
    config.groupPrefix,
    "upbus",
    "yesterday's group names: upbus-enricher, upbus-notify",
  );
  assert.equal(
    loadPipelineConfig((name) => name === "CONSUMER_GROUP_PREFIX" ? "alice" : undefined)
      .groupPrefix,
    "alice",
  );
  assert.deepEqual(loadPipelineConfig(() => undefined).kafkaBrokers, [], "embedded mode");
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ ...base, TRANSACTIONS_TOPIC: "a b" }, /TRANSACTIONS_TOPIC is "a b"/],
    [{ ...base, DASHBOARD_PORT: "99999" }, /DASHBOARD_PORT is "99999", expected a whole number/],
    [{ ...base, RECONCILE_SECONDS: "soon" }, /RECONCILE_SECONDS is "soon"/],
    [{ ...base, TZ: "Mars/Olympus" }, /TZ is "Mars\/Olympus", expected an IANA time zone/],
    [{ ...base, CONSUMER_GROUP_PREFIX: "my group" }, /CONSUMER_GROUP_PREFIX is "my group"/],
  ];
  for (const [values, message] of cases) {
    await t.step(JSON.stringify(values), () => {
      assert.throws(() => loadPipelineConfig((name) => values[name]), message);
    });
  }
});

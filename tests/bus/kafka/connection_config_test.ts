import assert from "node:assert/strict";
import { loadConfig } from "../../../lib/service/config.ts";
import { loadKafkaConnection, securityProtocol } from "../../../lib/bus/kafka/connection_config.ts";
import { kafkajsConnectionOptions } from "../../../lib/bus/kafka/connection_options.ts";
import { loadPipelineConfig } from "../../../lib/service/pipeline_config.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
const FILES: Record<string, string> = {
  "/etc/upbus/ca.pem": CA,
  "/etc/upbus/client.pem": CA,
  "/etc/upbus/client.key": KEY,
  "/etc/upbus/encrypted.key":
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----\n",
  "/run/credentials/upbus.service/kafka-password": "pa ss\n",
  "/run/credentials/upbus.service/empty": "\n",
  "/var/lib/upbus/token": "eyJ.token.\n",
  "/etc/upbus/not-pem.txt": "hello",
};

function read(path: string): string {
  if (path in FILES) return FILES[path];
  throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
}

function load(env: Record<string, string>) {
  return loadKafkaConnection((name) => env[name], { readTextFile: read });
}

Deno.test("loadKafkaConnection() reads TLS files and the password file once, as plain data", () => {
  const connection = load({
    KAFKA_SSL: "TRUE",
    KAFKA_SSL_CA_FILE: "/etc/upbus/ca.pem",
    KAFKA_SSL_CERT_FILE: "/etc/upbus/client.pem",
    KAFKA_SSL_KEY_FILE: "/etc/upbus/client.key",
    KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
    KAFKA_SASL_USERNAME: "upbus",
    KAFKA_SASL_PASSWORD_FILE: "/run/credentials/upbus.service/kafka-password",
  });
  assert.deepEqual(connection, {
    tls: { ca: CA, cert: CA, key: KEY },
    sasl: {
      mechanism: "scram-sha-512",
      username: "upbus",
      // The file's final line break is dropped; the password's own space is kept.
      password: "pa ss",
      passwordFrom: "KAFKA_SASL_PASSWORD_FILE",
    },
  });
  assert.deepEqual(structuredClone(connection), connection, "crosses postMessage");
  assert.equal(securityProtocol(connection), "SASL_SSL (SCRAM-SHA-512)");
  const options = kafkajsConnectionOptions(connection);
  assert.deepEqual(options.ssl, { ca: [CA], cert: CA, key: KEY, rejectUnauthorized: true });
  assert.deepEqual(options.sasl, {
    mechanism: "scram-sha-512",
    username: "upbus",
    password: "pa ss",
  });
});

Deno.test("loadKafkaConnection() gives plaintext when nothing is set, and SSL with public roots for KAFKA_SSL alone", () => {
  assert.deepEqual(load({}), {});
  assert.equal(securityProtocol(load({})), "PLAINTEXT");
  const ssl = load({ KAFKA_SSL: "true" });
  assert.deepEqual(ssl, { tls: {} });
  assert.equal(kafkajsConnectionOptions(ssl).ssl, true);
  assert.equal(securityProtocol(load({ KAFKA_SSL: "false" })), "PLAINTEXT");
});

Deno.test("an OAUTHBEARER token is read from its file at each authentication", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-token-" });
  try {
    const file = `${dir}/token`;
    await Deno.writeTextFile(file, "first-token\n");
    const connection = loadKafkaConnection((name) =>
      ({
        KAFKA_SSL: "true",
        KAFKA_SASL_MECHANISM: "oauthbearer",
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file,
      } as Record<string, string>)[name]
    );
    assert.deepEqual(connection.sasl, { mechanism: "oauthbearer", tokenFile: file });
    const sasl = kafkajsConnectionOptions(connection).sasl as {
      mechanism: string;
      oauthBearerProvider: () => Promise<{ value: string }>;
    };
    assert.equal(sasl.mechanism, "oauthbearer");
    assert.deepEqual(await sasl.oauthBearerProvider(), { value: "first-token" });
    await Deno.writeTextFile(file, "refreshed-token");
    assert.deepEqual(await sasl.oauthBearerProvider(), { value: "refreshed-token" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKafkaConnection() names the variable when settings are wrong or do not fit together", async (t) => {
  const scram = { KAFKA_SASL_MECHANISM: "scram-sha-512", KAFKA_SASL_USERNAME: "upbus" };
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      "KAFKA_SSL not a boolean",
      { KAFKA_SSL: "maybe" },
      /KAFKA_SSL is "maybe", expected true or false/,
    ],
    [
      "a CA without KAFKA_SSL",
      { KAFKA_SSL_CA_FILE: "/etc/upbus/ca.pem" },
      /KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not set: set KAFKA_SSL=true/,
    ],
    [
      "a CA with KAFKA_SSL=false",
      { KAFKA_SSL: "false", KAFKA_SSL_CA_FILE: "/etc/upbus/ca.pem" },
      /KAFKA_SSL_CA_FILE is set but KAFKA_SSL is false/,
    ],
    [
      "a missing CA file",
      { KAFKA_SSL: "true", KAFKA_SSL_CA_FILE: "/etc/upbus/nope.pem" },
      /KAFKA_SSL_CA_FILE is "\/etc\/upbus\/nope.pem", which cannot be read: no such file/,
    ],
    [
      "a CA file that is not PEM",
      { KAFKA_SSL: "true", KAFKA_SSL_CA_FILE: "/etc/upbus/not-pem.txt" },
      /KAFKA_SSL_CA_FILE is "\/etc\/upbus\/not-pem.txt", expected a PEM file/,
    ],
    [
      "a certificate without its key",
      { KAFKA_SSL: "true", KAFKA_SSL_CERT_FILE: "/etc/upbus/client.pem" },
      /KAFKA_SSL_CERT_FILE is set but KAFKA_SSL_KEY_FILE is not/,
    ],
    [
      "an encrypted key",
      {
        KAFKA_SSL: "true",
        KAFKA_SSL_CERT_FILE: "/etc/upbus/client.pem",
        KAFKA_SSL_KEY_FILE: "/etc/upbus/encrypted.key",
      },
      /KAFKA_SSL_KEY_FILE is "\/etc\/upbus\/encrypted.key", an encrypted key/,
    ],
    [
      "an unknown mechanism",
      { KAFKA_SASL_MECHANISM: "gssapi" },
      /KAFKA_SASL_MECHANISM is "gssapi", expected one of plain, scram-sha-256, scram-sha-512, oauthbearer/,
    ],
    [
      "a user name without a mechanism",
      { KAFKA_SASL_USERNAME: "upbus", KAFKA_SASL_PASSWORD: "x" },
      /KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not/,
    ],
    [
      "no user name",
      { KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_PASSWORD: "x" },
      /KAFKA_SASL_MECHANISM is plain but KAFKA_SASL_USERNAME is not set/,
    ],
    ["no password", scram, /neither KAFKA_SASL_PASSWORD nor KAFKA_SASL_PASSWORD_FILE is set/],
    [
      "both passwords",
      {
        ...scram,
        KAFKA_SASL_PASSWORD: "x",
        KAFKA_SASL_PASSWORD_FILE: "/run/credentials/upbus.service/kafka-password",
      },
      /KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set/,
    ],
    [
      "an empty password file",
      { ...scram, KAFKA_SASL_PASSWORD_FILE: "/run/credentials/upbus.service/empty" },
      /KAFKA_SASL_PASSWORD_FILE is ".*empty", which is empty/,
    ],
    [
      "OAUTHBEARER without a token file",
      { KAFKA_SASL_MECHANISM: "oauthbearer" },
      /oauthbearer but KAFKA_SASL_OAUTHBEARER_TOKEN_FILE is not set/,
    ],
    [
      "OAUTHBEARER with a password",
      {
        KAFKA_SASL_MECHANISM: "oauthbearer",
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: "/var/lib/upbus/token",
        KAFKA_SASL_PASSWORD: "x",
      },
      /KAFKA_SASL_PASSWORD is set but KAFKA_SASL_MECHANISM is oauthbearer/,
    ],
    [
      "a token file with SCRAM",
      {
        ...scram,
        KAFKA_SASL_PASSWORD: "x",
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: "/var/lib/upbus/token",
      },
      /KAFKA_SASL_OAUTHBEARER_TOKEN_FILE is set but KAFKA_SASL_MECHANISM is scram-sha-512/,
    ],
  ];
  for (const [name, env, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => load(env), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /^Cannot load config: /);
        assert.match(error.message, message);
        assert.ok(!error.message.includes("pa ss"), "no password in the message");
        return true;
      });
    });
  }
});

Deno.test("loadConfig() and loadPipelineConfig() read the same connection settings, only with KAFKA_BROKERS", () => {
  const env: Record<string, string> = {
    KAFKA_BROKERS: "pkc-1.example:9092",
    KAFKA_SSL: "true",
    KAFKA_SASL_MECHANISM: "plain",
    KAFKA_SASL_USERNAME: "API_KEY",
    KAFKA_SASL_PASSWORD: "API_SECRET",
  };
  const service = loadConfig((name) => env[name]);
  const pipeline = loadPipelineConfig((name) => env[name]);
  assert.equal(securityProtocol(service.kafkaConnection), "SASL_SSL (PLAIN)");
  assert.deepEqual(pipeline.kafkaConnection, service.kafkaConnection);
  // Embedded mode connects to nothing: a half-finished Kafka setup does not stop it.
  const embedded = loadConfig((name) =>
    ({ KAFKA_SASL_MECHANISM: "plain" } as Record<string, string>)[name]
  );
  assert.deepEqual(embedded.kafkaConnection, {});
});

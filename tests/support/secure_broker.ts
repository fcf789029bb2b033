/**
 * A real Apache Kafka broker with TLS and SASL for tests, built on `startBroker`: a CA, a broker
 * certificate (for `localhost`, 127.0.0.1 and 127.0.0.2) and a client certificate made with
 * `openssl` at test time (the broker's names: 127.0.0.1, 127.0.0.2 and `kafka.upbus.test`, not
 * `localhost`, so that `localhost` shows a name mismatch), the broker's keystore and truststore in
 * PEM, and these listeners on loopback:
 *
 * - `PLAINTEXT` on the client port: readiness checks and replication only;
 * - `SASL_SSL`: SCRAM-SHA-256, SCRAM-SHA-512 (users added by `kafka-storage format --add-scram`),
 *   PLAIN (users in the listener's JAAS config) and OAUTHBEARER (Kafka's unsecured JWT
 *   validator: any well-formed `alg: none` token, as its documentation describes for tests);
 * - `SSL` with `ssl.client.auth=required`: TLS with a client certificate, as Aiven offers;
 * - `SASL_PLAINTEXT` with PLAIN only: SASL without TLS, to show what a client without TLS sees,
 *   and a mechanism the listener does not offer.
 *
 * Permissions: those of `startBroker` (`--allow-run=java,mvn`, `./.kafka`, the jar cache),
 * `--allow-run=openssl`, `--allow-read`/`--allow-write` of `/tmp` for the certificates.
 *
 * @module
 */
import { join } from "node:path";
import {
  type BrokerHandle,
  PROJECT_ROOT,
  startBroker,
  stopBroker,
} from "../../tasks/kafka_broker.ts";

/** A host name only a test's own network namespace resolves (tests/bus/kafka/broker_by_name_test.ts). */
export const TEST_HOST_NAME = "kafka.upbus.test";

/** The address of {@linkcode TEST_HOST_NAME}, on the loopback interface of that namespace. */
export const TEST_HOST_ADDRESS = "10.213.7.1";

/** Options of {@linkcode startSecureBroker}. */
export interface SecureBrokerOptions {
  /**
   * Where the second SASL_SSL listener binds and what it advertises; default `127.0.0.2` for
   * both. A network namespace of the test binds {@linkcode TEST_HOST_ADDRESS} and advertises
   * {@linkcode TEST_HOST_NAME}, a name clients learn only from the cluster's metadata.
   */
  otherAddress?: { bind: string; advertise: string };
}

/** A SASL user the broker knows. */
export interface TestUser {
  username: string;
  password: string;
}

/** The users of every secure broker: one per mechanism, so a wrong mechanism fails. */
export const SECURE_USERS = {
  scram256: { username: "alice-256", password: "scram-256-pa55word-for-test" },
  scram512: { username: "bob-512", password: "scram-512-pa55word-for-test" },
  plain: { username: "carol-plain", password: "plain-pa55word-for-test" },
} as const satisfies Record<string, TestUser>;

/** PEM files made for one broker. */
export interface TestCertificates {
  /** Directory holding them (mode 0700). */
  dir: string;
  /** The CA that signed the broker and client certificates. */
  caFile: string;
  /** A CA that signed nothing here: trusting it must fail. */
  otherCaFile: string;
  /** A client certificate signed by the CA, and its key. */
  clientCertFile: string;
  clientKeyFile: string;
  /** The broker's keystore: its PKCS#8 key then its certificate. */
  brokerKeystoreFile: string;
}

/** A running secure broker. */
export interface SecureBroker extends AsyncDisposable {
  /** `127.0.0.1:<port>` of the SASL_SSL listener. */
  readonly saslSsl: string;
  /** `127.0.0.1:<port>` of the SSL listener that requires a client certificate. */
  readonly ssl: string;
  /** `127.0.0.1:<port>` of the SASL_PLAINTEXT listener. */
  readonly saslPlaintext: string;
  /** `127.0.0.2:<port>` (or the bound address of `otherAddress`): SASL_SSL again, on another
   * address than the others. */
  readonly saslSslOtherAddress: string;
  /** The host and port that listener advertises in the cluster's metadata. */
  readonly saslSslOtherAdvertised: string;
  /** `127.0.0.1:<port>` of the PLAINTEXT listener (tests only). */
  readonly plaintext: string;
  readonly certificates: TestCertificates;
  readonly handle: BrokerHandle;
  /** Stops the broker and deletes its data and certificates. */
  destroy(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", { args, cwd, stdin: "null" })
    .output();
  if (code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
  }
}

/**
 * Makes a CA, a broker certificate, a client certificate and an unrelated CA with `openssl`.
 *
 * @param dir An empty directory to write them to.
 * @returns The paths.
 */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const days = ["-days", "2"];
  const rsa = ["-newkey", "rsa:2048", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...rsa,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    ...days,
    "-subj",
    "/CN=upbus test CA",
  ], dir);
  await openssl([
    "req",
    "-x509",
    ...rsa,
    "-keyout",
    "other-ca.key",
    "-out",
    "other-ca.pem",
    ...days,
    "-subj",
    "/CN=upbus unrelated CA",
  ], dir);
  await Deno.writeTextFile(
    join(dir, "broker.ext"),
    `subjectAltName=DNS:${TEST_HOST_NAME},IP:127.0.0.1,IP:127.0.0.2,IP:${TEST_HOST_ADDRESS}\n`,
  );
  for (
    const [name, subject, ext] of [
      ["broker", "/CN=localhost", ["-extfile", "broker.ext"]],
      ["client", "/CN=upbus-client", []],
    ] as const
  ) {
    await openssl([
      "req",
      ...rsa,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ], dir);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      ...days,
      ...ext,
    ], dir);
  }
  await openssl(["pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.p8"], dir);
  const keystore = join(dir, "broker-keystore.pem");
  await Deno.writeTextFile(
    keystore,
    (await Deno.readTextFile(join(dir, "broker.p8"))) +
      (await Deno.readTextFile(join(dir, "broker.pem"))),
  );
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    otherCaFile: join(dir, "other-ca.pem"),
    clientCertFile: join(dir, "client.pem"),
    clientKeyFile: join(dir, "client.key"),
    brokerKeystoreFile: keystore,
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function freePorts(count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(freePort());
  return [...ports];
}

/**
 * Starts a broker with TLS and SASL listeners (see the module doc) on free loopback ports, owned
 * by the `deno test` process like every test broker.
 *
 * @param options Where the second SASL_SSL listener binds and what it advertises.
 * @returns The broker; use it with `await using`.
 */
export async function startSecureBroker(options: SecureBrokerOptions = {}): Promise<SecureBroker> {
  const other = options.otherAddress ?? { bind: "127.0.0.2", advertise: "127.0.0.2" };
  await Deno.mkdir(join(PROJECT_ROOT, ".kafka"), { recursive: true });
  const dataDir = await Deno.makeTempDir({
    dir: join(PROJECT_ROOT, ".kafka"),
    prefix: "test-secure-",
  });
  const certDir = await Deno.makeTempDir({ prefix: "upbus-certs-" });
  const certificates = await makeTestCertificates(certDir);
  // The last port serves 127.0.0.2: free on 127.0.0.1 it is all but surely free there too, and
  // the test process needs no permission for 127.0.0.2 itself.
  const [port, controllerPort, saslSslPort, sslPort, saslPlainPort, otherPort] = freePorts(6);
  const listeners = {
    PLAINTEXT: `127.0.0.1:${port}`,
    CONTROLLER: `127.0.0.1:${controllerPort}`,
    SASL_SSL: `127.0.0.1:${saslSslPort}`,
    SSL: `127.0.0.1:${sslPort}`,
    SASL_PLAINTEXT: `127.0.0.1:${saslPlainPort}`,
    OTHER_ADDRESS: `${other.bind}:${otherPort}`,
  };
  const advertised = { ...listeners, OTHER_ADDRESS: `${other.advertise}:${otherPort}` };
  const { scram256, scram512, plain } = SECURE_USERS;
  const plainJaas = `org.apache.kafka.common.security.plain.PlainLoginModule required ` +
    `user_${plain.username}="${plain.password}";`;
  const scramJaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
  const oauthJaas =
    'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";';
  const saslListener = (name: string) => ({
    [`listener.name.${name}.plain.sasl.jaas.config`]: plainJaas,
    [`listener.name.${name}.scram-sha-256.sasl.jaas.config`]: scramJaas,
    [`listener.name.${name}.scram-sha-512.sasl.jaas.config`]: scramJaas,
    [`listener.name.${name}.oauthbearer.sasl.jaas.config`]: oauthJaas,
  });
  const handle = await startBroker({
    port,
    controllerPort,
    dataDir,
    ownerPid: Deno.pid,
    extraProperties: {
      listeners: Object.entries(listeners).map(([name, at]) => `${name}://${at}`).join(","),
      "advertised.listeners": Object.entries(advertised)
        .filter(([name]) => name !== "CONTROLLER")
        .map(([name, at]) => `${name}://${at}`).join(","),
      "listener.security.protocol.map":
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,OTHER_ADDRESS:SASL_SSL",
      "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
      "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
      ...saslListener("sasl_ssl"),
      ...saslListener("sasl_plaintext"),
      ...saslListener("other_address"),
      "ssl.keystore.type": "PEM",
      "ssl.keystore.location": certificates.brokerKeystoreFile,
      "ssl.truststore.type": "PEM",
      "ssl.truststore.location": certificates.caFile,
      "listener.name.ssl.ssl.client.auth": "required",
      "ssl.endpoint.identification.algorithm": "",
    },
    formatArgs: [
      "--add-scram",
      `SCRAM-SHA-256=[name=${scram256.username},password=${scram256.password}]`,
      "--add-scram",
      `SCRAM-SHA-512=[name=${scram512.username},password=${scram512.password}]`,
    ],
  });
  const broker: SecureBroker = {
    saslSsl: listeners.SASL_SSL,
    ssl: listeners.SSL,
    saslPlaintext: listeners.SASL_PLAINTEXT,
    saslSslOtherAddress: listeners.OTHER_ADDRESS,
    saslSslOtherAdvertised: advertised.OTHER_ADDRESS,
    plaintext: listeners.PLAINTEXT,
    certificates,
    handle,
    async destroy() {
      await stopBroker({ dataDir });
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      await Deno.remove(certDir, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]() {
      return broker.destroy();
    },
  };
  return broker;
}

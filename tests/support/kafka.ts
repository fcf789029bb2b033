/**
 * Kafka for tests: a shared broker on 127.0.0.1:19092 for every test file of a run, and separate
 * brokers that a test may stop and start again.
 *
 * Lifetime, chosen so that `deno test` never leaves a JVM behind: a broker started from here is
 * owned by the `deno test` process, and its JVM shuts itself down cleanly (in about 1-3 s) once
 * that process has exited, however it exited (passed, failed, Ctrl-C, kill -9). Deno runs each
 * test file in its own isolate but in one process, so every file of a run finds the shared
 * broker listening and reuses it; the first file pays the start (about 3-5 s, plus the jar
 * download on a new machine). A second `deno test` run at the same time (another engineer, or
 * `--watch`) joins as a further owner, and the broker stops only once both have exited. A
 * broker that answers on 19092 from another data directory, e.g. one from
 * `deno task kafka start --port 19092`, is reused and left running: start one that way for
 * faster reruns, and stop it with `deno task kafka stop --port 19092`.
 *
 * Permissions: `--allow-run=java,mvn` (and `kcat` for tests that use it),
 * `--allow-net=127.0.0.1`, `--allow-env=HOME`, `--allow-read` and `--allow-write` of `./.kafka`
 * and `$HOME/.cache/upbus`.
 *
 * @module
 */
import { join } from "node:path";
import { type BrokerHandle, startBroker } from "../../tasks/kafka/broker.ts";
import {
  type ClusterHandle,
  type ClusterOptions,
  startCluster,
  startNode,
  stopCluster,
  stopNode,
} from "../../tasks/kafka/cluster.ts";
import { PROJECT_ROOT } from "../../tasks/kafka/defaults.ts";
import { brokerStatus, stopBroker } from "../../tasks/kafka/state.ts";

/**
 * Client port of the shared test broker; its controller listens on the next port. 19092 unless
 * `UPBUS_TEST_BROKER_PORT` names another, so that two checkouts can run their suites at once.
 */
export const TEST_BROKER_PORT: number = Number(
  Deno.env.get("UPBUS_TEST_BROKER_PORT") ?? 19092,
);

/** Data directory of the shared test broker. */
export const TEST_BROKER_DATA_DIR: string = join(
  PROJECT_ROOT,
  ".kafka",
  `test-${TEST_BROKER_PORT}`,
);

let shared: Promise<string> | undefined;

/**
 * The bootstrap address of the shared test broker, `127.0.0.1:19092`, starting it if nothing
 * answers there. Cheap after the first call of a test file.
 *
 * @returns A bootstrap string for kafkajs `brokers` or `KAFKA_BROKERS`.
 * @throws {Error} If the broker cannot be started (the message carries its log tail).
 *
 * @example
 * ```ts ignore
 * import { Kafka } from "kafkajs";
 * import { testBrokers } from "./support/kafka.ts";
 * const kafka = new Kafka({ brokers: [await testBrokers()] });
 * ```
 */
export function testBrokers(): Promise<string> {
  shared ??= ensureSharedBroker().catch((error) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

async function ensureSharedBroker(): Promise<string> {
  const status = await brokerStatus({ dataDir: TEST_BROKER_DATA_DIR, port: TEST_BROKER_PORT });
  // Some other broker answers on the port (`deno task kafka start --port 19092`): use it.
  if (status.state === "stopped" && status.listening) return status.bootstrap;
  const broker = await startBroker({
    port: TEST_BROKER_PORT,
    dataDir: TEST_BROKER_DATA_DIR,
    ownerPid: Deno.pid,
    reuse: true,
  });
  return broker.bootstrap;
}

/** A broker of one test, on ports of its own, in a temporary data directory. */
export interface TestBroker extends AsyncDisposable {
  /** `127.0.0.1:<port>`; the same after a restart. */
  readonly bootstrap: string;
  /** Client port. */
  readonly port: number;
  /** The temporary data directory, kept across `stop()` and `start()`. */
  readonly dataDir: string;
  /** The JVM's pid while it runs. */
  readonly pid: number | undefined;
  /** Whether it has been started and not stopped since. */
  readonly running: boolean;
  /** Milliseconds the last start took until the broker accepted clients. */
  readonly startupMs: number;
  /** Starts it again, same ports and data; resolves once it accepts clients. */
  start(): Promise<void>;
  /** Stops it (SIGTERM, clean shutdown); resolves once the JVM is gone and the port is free. */
  stop(): Promise<void>;
  /** Stops it and deletes its data directory; what `await using` calls. */
  destroy(): Promise<void>;
}

/** Options of {@linkcode startTestBroker}. */
export interface TestBrokerOptions {
  /** Apache Kafka version. Default: the one `tasks/kafka/defaults.ts` names. */
  version?: string;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Starts a broker of its own for a test that stops and restarts it (under load, for instance),
 * on two free loopback ports, with a data directory under `.kafka/` that `destroy()` removes.
 * Owned by the `deno test` process like the shared broker.
 *
 * @param options The Kafka version.
 * @returns A started broker; use it with `await using`.
 *
 * @example
 * ```ts ignore
 * import { startTestBroker } from "./support/kafka.ts";
 * await using broker = await startTestBroker();
 * await broker.stop();
 * await broker.start();
 * ```
 */
export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  await Deno.mkdir(join(PROJECT_ROOT, ".kafka"), { recursive: true });
  const dataDir = await Deno.makeTempDir({
    dir: join(PROJECT_ROOT, ".kafka"),
    prefix: "test-tmp-",
  });
  const port = freePort();
  let controllerPort = freePort();
  while (controllerPort === port) controllerPort = freePort();
  let handle: BrokerHandle | undefined;
  let startupMs = 0;

  const broker: TestBroker = {
    bootstrap: `127.0.0.1:${port}`,
    port,
    dataDir,
    get pid() {
      return handle?.pid;
    },
    get running() {
      return handle !== undefined;
    },
    get startupMs() {
      return startupMs;
    },
    async start() {
      if (handle) throw new Error(`Cannot start test broker: it runs already (pid ${handle.pid})`);
      handle = await startBroker({
        port,
        controllerPort,
        dataDir,
        version: options.version,
        ownerPid: Deno.pid,
      });
      startupMs = handle.startupMs;
    },
    async stop() {
      await stopBroker({ dataDir });
      handle = undefined;
    },
    async destroy() {
      await broker.stop();
      await Deno.remove(dataDir, { recursive: true });
    },
    [Symbol.asyncDispose]() {
      return broker.destroy();
    },
  };
  try {
    await broker.start();
  } catch (error) {
    await broker.destroy().catch(() => {});
    throw error;
  }
  return broker;
}

/** A 3-node KRaft cluster of one test (replication 3, `min.insync.replicas=2`). */
export interface TestCluster extends AsyncDisposable {
  /** Every node's `127.0.0.1:<port>`, comma-separated. */
  readonly bootstrap: string;
  /** The nodes' ids and client ports. */
  readonly nodes: ReadonlyArray<{ id: number; port: number }>;
  /** Kills node `id` with SIGKILL, as a crash would. */
  kill(id: number): Promise<void>;
  /** Starts node `id` again, with its data; resolves once it accepts clients. */
  start(id: number): Promise<void>;
  /** Stops every node and deletes the cluster's data; what `await using` calls. */
  destroy(): Promise<void>;
}

/**
 * Starts a 3-node cluster for a test that kills nodes, on free loopback ports, with its data
 * under `.kafka/` and owned by the `deno test` process like the shared broker.
 *
 * @returns A started cluster; use it with `await using`.
 *
 * @example
 * ```ts ignore
 * import { startTestCluster } from "./support/kafka.ts";
 * await using cluster = await startTestCluster();
 * await cluster.kill(2);
 * await cluster.start(2);
 * ```
 */
export async function startTestCluster(): Promise<TestCluster> {
  await Deno.mkdir(join(PROJECT_ROOT, ".kafka"), { recursive: true });
  const dataDir = await Deno.makeTempDir({
    dir: join(PROJECT_ROOT, ".kafka"),
    prefix: "test-cluster-",
  });
  const used = new Set<number>();
  const port = () => {
    let candidate = freePort();
    while (used.has(candidate)) candidate = freePort();
    used.add(candidate);
    return candidate;
  };
  const options: ClusterOptions = {
    dataDir,
    ports: [1, 2, 3].map(() => ({ port: port(), controllerPort: port() })),
    ownerPid: Deno.pid,
    heap: "256m",
  };
  const destroy = async () => {
    await stopCluster(options);
    await Deno.remove(dataDir, { recursive: true });
  };
  let handle: ClusterHandle;
  try {
    handle = await startCluster(options);
  } catch (error) {
    await destroy().catch(() => {});
    throw error;
  }
  return {
    bootstrap: handle.bootstrap,
    nodes: handle.nodes.map(({ id, port }) => ({ id, port })),
    async kill(id) {
      await stopNode(id, { ...options, kill: true });
    },
    start: (id) => startNode(id, options),
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}

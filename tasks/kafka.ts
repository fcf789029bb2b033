/**
 * `deno task kafka start|stop|status|fetch`: a development Kafka broker (official Apache Kafka,
 * single-node KRaft) on 127.0.0.1, or a cluster of them (`--nodes`), run as detached JVMs until
 * stopped. The broker, the cluster and the jars are in `tasks/kafka/`.
 *
 * @module
 */
import { relative } from "node:path";
import { parseArgs } from "node:util";
import { startBroker } from "./kafka/broker.ts";
import {
  clusterStatus,
  DEFAULT_CLUSTER_PORT,
  startCluster,
  startNode,
  stopCluster,
  stopNode,
} from "./kafka/cluster.ts";
import { DEFAULT_KAFKA_VERSION, DEFAULT_PORT, defaultDataDir } from "./kafka/defaults.ts";
import { ensureKafkaJars } from "./kafka/jars.ts";
import { brokerStatus, stopBroker } from "./kafka/state.ts";

const USAGE = `Usage: deno task kafka <command> [options]

Commands:
  start    Start a broker in the background (fetches the jars first if needed)
  stop     Stop it (SIGTERM, then SIGKILL after 20 s)
  status   Say whether it runs; exit code 0 if it does, 3 if not
  fetch    Only fetch the Kafka jars with Maven (CI does this before the tests)

Options:
  --port N              Client port on 127.0.0.1 (default ${DEFAULT_PORT})
  --controller-port N   KRaft controller port (default: port + 1)
  --data-dir D          Data and logs (default .kafka/<port>; must stay under .kafka/ for the
                        task's permissions)
  --kafka-version V     Apache Kafka version from Maven Central (default ${DEFAULT_KAFKA_VERSION})
  --heap SIZE           JVM -Xmx (default 512m)
  -h, --help            Show this help

A cluster (3 combined broker+controller nodes, replication 3, min.insync.replicas=2):
  --nodes N             start, stop or status a cluster of N nodes (ports from --port, default
                        ${DEFAULT_CLUSTER_PORT}: node n on port + n - 1, its controller on port + 10 + n - 1)
  --node ID             start or stop one node of that cluster
  --kill                with stop: SIGKILL at once, as a crash would

  deno task kafka start --nodes 3             # 127.0.0.1:9192,127.0.0.1:9193,127.0.0.1:9194
  deno task kafka stop --nodes 3 --node 2 --kill
  deno task kafka start --nodes 3 --node 2    # it rejoins with its data
  deno task kafka stop --nodes 3`;

/** Exit code of `status` when no broker runs (as LSB init scripts do). */
export const EXIT_NOT_RUNNING = 3;

interface Options {
  /** Cluster mode: the number of nodes. */
  nodes?: number;
  /** One node of the cluster. */
  node?: number;
  kill: boolean;
  port: number;
  controllerPort?: number;
  dataDir: string;
  version: string;
  heap?: string;
}

/** A command-line mistake: printed with the usage, exit code 2. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function parsePort(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`Cannot parse --${name}: expected a port 1-65535, got "${value}"`);
  }
  return port;
}

function parse(args: string[]): { command: string; options: Options } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      "controller-port": { type: "string" },
      "data-dir": { type: "string" },
      "kafka-version": { type: "string" },
      heap: { type: "string" },
      nodes: { type: "string" },
      node: { type: "string" },
      kill: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { command: "help", options: {} as Options };
  if (positionals.length !== 1) {
    throw new UsageError(
      `Cannot run kafka task: expected one command (start, stop, status, fetch), got ${
        positionals.length === 0 ? "none" : positionals.join(" ")
      }`,
    );
  }
  const count = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 9) {
      throw new UsageError(`Cannot parse --${name}: expected a number 1-9, got "${value}"`);
    }
    return n;
  };
  const node = count("node", values.node);
  const nodes = count("nodes", values.nodes) ?? (node === undefined ? undefined : 3);
  const port = parsePort("port", values.port) ??
    (nodes === undefined ? DEFAULT_PORT : DEFAULT_CLUSTER_PORT);
  return {
    command: positionals[0],
    options: {
      nodes,
      node,
      kill: values.kill ?? false,
      port,
      controllerPort: parsePort("controller-port", values["controller-port"]),
      dataDir: values["data-dir"] ?? defaultDataDir(port),
      version: values["kafka-version"] ?? DEFAULT_KAFKA_VERSION,
      heap: values.heap,
    },
  };
}

function shown(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

/** The flags to repeat in a follow-up command for this broker. */
function flags(options: Options): string {
  const parts: string[] = [];
  if (options.port !== DEFAULT_PORT) parts.push(`--port ${options.port}`);
  if (options.dataDir !== defaultDataDir(options.port)) {
    parts.push(`--data-dir ${shown(options.dataDir)}`);
  }
  return parts.length ? ` ${parts.join(" ")}` : "";
}

async function fetchJars(options: Options): Promise<number> {
  const jars = await ensureKafkaJars({ version: options.version, log: console.log });
  console.log(`Apache Kafka ${options.version} jars are in ${jars}.`);
  console.log("Next: `deno task kafka start` runs a broker from them.");
  return 0;
}

async function start(options: Options): Promise<number> {
  const broker = await startBroker({
    port: options.port,
    controllerPort: options.controllerPort,
    dataDir: options.dataDir,
    version: options.version,
    heap: options.heap,
    reuse: true,
    log: console.log,
  });
  const how = broker.started
    ? `started in ${(broker.startupMs / 1000).toFixed(1)} s`
    : "it was running already";
  console.log(
    `Kafka ${broker.version} is running on ${broker.bootstrap} (pid ${broker.pid}; ${how}).`,
  );
  console.log(`  data: ${shown(broker.dataDir)}, log: ${shown(broker.logFile)}`);
  console.log("  Topics are not auto-created: create them with an admin client.");
  console.log(`Next: use it with KAFKA_BROKERS=${broker.bootstrap}`);
  console.log(`Stop it with \`deno task kafka stop${flags(options)}\`.`);
  return 0;
}

async function stop(options: Options): Promise<number> {
  const before = await brokerStatus({ dataDir: options.dataDir, port: options.port });
  const result = await stopBroker({ dataDir: options.dataDir });
  if (result === "not-running") {
    console.log(`No Kafka broker of ${shown(options.dataDir)} is running: nothing to stop.`);
    if (before.listening) {
      console.log(
        `Note: something else answers Kafka requests on ${before.bootstrap}; it has another data directory.`,
      );
    }
    return 0;
  }
  const how = result === "killed" ? "killed it after it ignored SIGTERM" : "clean shutdown";
  console.log(`Stopped Kafka on ${before.bootstrap} (pid ${before.pid}; ${how}).`);
  console.log(
    `Its data stays in ${shown(options.dataDir)}; start it again with \`deno task kafka start${
      flags(options)
    }\`.`,
  );
  return 0;
}

async function status(options: Options): Promise<number> {
  const s = await brokerStatus({ dataDir: options.dataDir, port: options.port });
  switch (s.state) {
    case "running":
      console.log(`Kafka ${s.version} is running on ${s.bootstrap} (pid ${s.pid}).`);
      console.log(
        `  log: ${shown(s.logFile)}; stop it with \`deno task kafka stop${flags(options)}\`.`,
      );
      return 0;
    case "starting":
    case "stopping":
      console.log(`Kafka is ${s.state} on ${s.bootstrap} (pid ${s.pid}); see ${shown(s.logFile)}.`);
      return EXIT_NOT_RUNNING;
    case "stopped":
      console.log(`No Kafka broker of ${shown(options.dataDir)} is running.`);
      if (s.listening) {
        console.log(`Note: something else answers Kafka requests on ${s.bootstrap}.`);
      }
      console.log(`Start one with \`deno task kafka start${flags(options)}\`.`);
      return EXIT_NOT_RUNNING;
  }
}

/** `start`, `stop` and `status` of a cluster, or of one of its nodes. */
async function cluster(command: string, options: Options): Promise<number> {
  const layout = {
    nodes: options.nodes,
    basePort: options.port,
    version: options.version,
    heap: options.heap,
    log: console.log,
  };
  const again = `--nodes ${options.nodes}${
    options.port === DEFAULT_CLUSTER_PORT ? "" : ` --port ${options.port}`
  }`;
  if (command === "start" && options.node !== undefined) {
    await startNode(options.node, layout);
    console.log(`Node ${options.node} is running again.`);
  } else if (command === "start") {
    const started = await startCluster(layout);
    console.log(`A ${started.nodes.length}-node Kafka cluster is running.`);
    console.log(`Next: use it with KAFKA_BROKERS=${started.bootstrap}`);
    console.log(
      `Kill a node as a crash would with \`deno task kafka stop ${again} --node 1 --kill\`.`,
    );
  } else if (command === "stop" && options.node !== undefined) {
    const result = await stopNode(options.node, { ...layout, kill: options.kill });
    console.log(
      `Node ${options.node}: ${result}. Start it again with \`deno task kafka start ${again} --node ${options.node}\`.`,
    );
  } else if (command === "stop") {
    for (const [id, result] of await stopCluster(layout)) console.log(`Node ${id}: ${result}.`);
  } else if (command === "status") {
    const nodes = await clusterStatus(layout);
    for (const node of nodes) {
      console.log(`Node ${node.id} on ${node.status.bootstrap}: ${node.status.state}.`);
    }
    return nodes.every((node) => node.status.state === "running") ? 0 : EXIT_NOT_RUNNING;
  } else {
    console.error(`Cannot run kafka task: "${command}" does not apply to a cluster\n\n${USAGE}`);
    return 2;
  }
  return 0;
}

/**
 * Runs the kafka task.
 *
 * @param args Command-line arguments: a command and options.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  const { command, options } = parsed;
  try {
    if (options.nodes !== undefined && command !== "help" && command !== "fetch") {
      return await cluster(command, options);
    }
    switch (command) {
      case "help":
        console.log(USAGE);
        return 0;
      case "start":
        return await start(options);
      case "stop":
        return await stop(options);
      case "status":
        return await status(options);
      case "fetch":
        return await fetchJars(options);
      default:
        console.error(`Cannot run kafka task: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

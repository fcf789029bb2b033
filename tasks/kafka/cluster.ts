/**
 * A multi-node Kafka cluster for development and tests: three (by default) combined
 * broker+controller KRaft nodes on loopback, each one a broker of `broker.ts` with
 * its own ports and data directory, so that anyone can kill a partition leader and watch what
 * a client does. Replication factor 3, `min.insync.replicas=2`, no unclean leader election: a
 * write acknowledged with `acks=-1` is on two nodes at least.
 *
 * Layout of a cluster directory (`.kafka/cluster-9192` by default):
 * - `cluster.json`: the cluster id and every node's ports, written at the first start;
 * - `node-<id>/`: that node's data directory, as for a single broker.
 *
 * Node `n` listens on `basePort + n - 1` for clients and `basePort + 10 + n - 1` for the
 * controller quorum, unless explicit ports are given.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { startBroker } from "./broker.ts";
import { randomClusterId } from "./config.ts";
import { BROKER_HOST, PROJECT_ROOT } from "./defaults.ts";
import { type BrokerStatus, brokerStatus, stopBroker, type StopResult } from "./state.ts";

/** The first client port of a cluster when none is given. */
export const DEFAULT_CLUSTER_PORT = 9192;

/** One node of a cluster: its id and where it listens. */
export interface ClusterNode {
  /** `node.id`, from 1. */
  id: number;
  /** Client port on 127.0.0.1. */
  port: number;
  /** KRaft controller port on 127.0.0.1. */
  controllerPort: number;
  /** Its data directory. */
  dataDir: string;
}

/** What `cluster.json` holds. */
interface ClusterFile {
  clusterId: string;
  nodes: Array<{ id: number; port: number; controllerPort: number }>;
}

/** Options of {@linkcode startCluster} and the other cluster functions. */
export interface ClusterOptions {
  /** Number of nodes, 1-9. Default 3. */
  nodes?: number;
  /** Client port of node 1 (node n: `basePort + n - 1`). Default {@linkcode DEFAULT_CLUSTER_PORT}. */
  basePort?: number;
  /** Explicit ports, one entry per node, instead of `basePort`'s layout. */
  ports?: Array<{ port: number; controllerPort: number }>;
  /** The cluster directory. Default `.kafka/cluster-<basePort>`. */
  dataDir?: string;
  /** Apache Kafka version. Default: `defaults.ts`'s. */
  version?: string;
  /** Each JVM's `-Xmx`. Default `"384m"`. */
  heap?: string;
  /** Stop every node once this process has exited (see `startBroker`). Default: run until stopped. */
  ownerPid?: number;
  /** How long each node may take to accept clients. Default 120000 ms. */
  timeoutMs?: number;
  /** Receives one line per step taken. Default: silent. */
  log?: (line: string) => void;
}

/** A running cluster. */
export interface ClusterHandle {
  /** Every node's `127.0.0.1:<port>`, comma-separated, for `KAFKA_BROKERS`. */
  bootstrap: string;
  /** The nodes, by id. */
  nodes: ClusterNode[];
  /** The cluster directory. */
  dataDir: string;
}

/**
 * The cluster directory's nodes: from `cluster.json` when the cluster was started before, else
 * from the options.
 *
 * @param options Nodes, ports and directory.
 * @returns The cluster id (new when the cluster is new) and its nodes.
 */
export async function clusterLayout(
  options: ClusterOptions = {},
): Promise<{ clusterId: string; dataDir: string; nodes: ClusterNode[] }> {
  const basePort = options.basePort ?? DEFAULT_CLUSTER_PORT;
  const dataDir = resolve(options.dataDir ?? join(PROJECT_ROOT, ".kafka", `cluster-${basePort}`));
  const saved = await Deno.readTextFile(join(dataDir, "cluster.json"))
    .then((text) => JSON.parse(text) as ClusterFile)
    .catch(() => undefined);
  if (saved) {
    return {
      clusterId: saved.clusterId,
      dataDir,
      nodes: saved.nodes.map((node) => ({ ...node, dataDir: join(dataDir, `node-${node.id}`) })),
    };
  }
  const count = options.ports?.length ?? options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 9) {
    throw new RangeError(`Cannot lay out a Kafka cluster: nodes must be 1-9, got ${count}`);
  }
  const nodes = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    port: options.ports?.[i].port ?? basePort + i,
    controllerPort: options.ports?.[i].controllerPort ?? basePort + 10 + i,
    dataDir: join(dataDir, `node-${i + 1}`),
  }));
  return { clusterId: randomClusterId(), dataDir, nodes };
}

function voters(nodes: ClusterNode[]): string {
  return nodes.map((node) => `${node.id}@${BROKER_HOST}:${node.controllerPort}`).join(",");
}

/**
 * Starts every node of a cluster that is not running yet (all at once: a KRaft quorum needs a
 * majority of its voters before any node accepts clients). Resolves once each node answers.
 *
 * @param options Nodes, ports, directory, version and lifetime.
 * @returns The bootstrap list and the nodes.
 * @throws {Error} As {@linkcode startBroker} does, for the first node that fails.
 *
 * @example
 * ```ts ignore
 * import { startCluster, stopCluster } from "./cluster.ts";
 * const cluster = await startCluster({ basePort: 9192 });
 * console.log(cluster.bootstrap); // 127.0.0.1:9192,127.0.0.1:9193,127.0.0.1:9194
 * await stopCluster({ basePort: 9192 });
 * ```
 */
export async function startCluster(options: ClusterOptions = {}): Promise<ClusterHandle> {
  const layout = await clusterLayout(options);
  await Deno.mkdir(layout.dataDir, { recursive: true });
  const file: ClusterFile = {
    clusterId: layout.clusterId,
    nodes: layout.nodes.map(({ id, port, controllerPort }) => ({ id, port, controllerPort })),
  };
  await Deno.writeTextFile(
    join(layout.dataDir, "cluster.json"),
    JSON.stringify(file, null, 2) + "\n",
  );
  await Promise.all(layout.nodes.map((node) => startNode(node.id, options)));
  return {
    bootstrap: layout.nodes.map((node) => `${BROKER_HOST}:${node.port}`).join(","),
    nodes: layout.nodes,
    dataDir: layout.dataDir,
  };
}

/**
 * Starts one node of a cluster (again): after {@linkcode stopNode}, it rejoins with its data.
 *
 * @param id The node id.
 * @param options The cluster's options (its directory, version, heap and lifetime).
 * @returns Once the node accepts clients.
 * @throws {RangeError} If the cluster has no such node.
 */
export async function startNode(id: number, options: ClusterOptions = {}): Promise<void> {
  const layout = await clusterLayout(options);
  const node = nodeOf(layout.nodes, id);
  await startBroker({
    port: node.port,
    controllerPort: node.controllerPort,
    dataDir: node.dataDir,
    version: options.version,
    heap: options.heap ?? "384m",
    ownerPid: options.ownerPid,
    reuse: true,
    timeoutMs: options.timeoutMs,
    log: options.log,
    cluster: {
      nodeId: node.id,
      voters: voters(layout.nodes),
      clusterId: layout.clusterId,
      size: layout.nodes.length,
    },
  });
}

/**
 * Stops one node: cleanly (SIGTERM, leadership handed over first), or with `kill` as a crash
 * would (SIGKILL, partitions it led are leaderless until the controller notices).
 *
 * @param id The node id.
 * @param options The cluster's options, and `kill`.
 * @returns What was done.
 * @throws {RangeError} If the cluster has no such node.
 */
export async function stopNode(
  id: number,
  options: ClusterOptions & { kill?: boolean } = {},
): Promise<StopResult> {
  const layout = await clusterLayout(options);
  return await stopBroker({ dataDir: nodeOf(layout.nodes, id).dataDir, kill: options.kill });
}

/**
 * Stops every node of a cluster, cleanly.
 *
 * @param options The cluster's options.
 * @returns What was done to each node, by id.
 */
export async function stopCluster(options: ClusterOptions = {}): Promise<Map<number, StopResult>> {
  const layout = await clusterLayout(options);
  const results = await Promise.all(
    layout.nodes.map((node) => stopBroker({ dataDir: node.dataDir })),
  );
  return new Map(layout.nodes.map((node, i) => [node.id, results[i]]));
}

/**
 * The state of every node of a cluster.
 *
 * @param options The cluster's options.
 * @returns Each node with its broker status.
 */
export async function clusterStatus(
  options: ClusterOptions = {},
): Promise<Array<ClusterNode & { status: BrokerStatus }>> {
  const layout = await clusterLayout(options);
  return await Promise.all(layout.nodes.map(async (node) => ({
    ...node,
    status: await brokerStatus({ dataDir: node.dataDir, port: node.port }),
  })));
}

function nodeOf(nodes: ClusterNode[], id: number): ClusterNode {
  const node = nodes.find((candidate) => candidate.id === id);
  if (!node) {
    throw new RangeError(
      `Cannot find Kafka node ${id}: the cluster has nodes ${nodes.map((n) => n.id).join(", ")}`,
    );
  }
  return node;
}

/**
 * The state of the broker of a data directory, and stopping it: from its pid file, its JVM
 * (checked by pid and command line with the helper) and a Kafka request to its port.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { BROKER_HOST, DEFAULT_PORT, defaultCacheDir, defaultDataDir } from "./defaults.ts";
import { configuredPort, forget, listOwners, marker, readPidFile } from "./data_dir.ts";
import { helper } from "./helper.ts";
import { answersKafka, portIsFree } from "./probe.ts";
import { delay, exists, tail } from "./run.ts";

/** Whether the JVM of `pid` runs and is the broker of this data directory (not a reused pid). */
export async function isBrokerAlive(
  cacheDir: string,
  dataDir: string,
  pid: number,
): Promise<boolean> {
  const { code } = await helper(cacheDir, ["alive", String(pid), marker(dataDir)]);
  return code === 0;
}

/** The state of the broker of one data directory. */
export interface BrokerStatus {
  /**
   * `running`: its JVM is alive and answers Kafka requests; `starting`: its JVM is alive but
   * does not answer yet; `stopping`: its JVM is alive but every owner has exited, so it is
   * shutting down; `stopped`: no JVM of this data directory runs.
   */
  state: "running" | "starting" | "stopping" | "stopped";
  /** `127.0.0.1:<port>`. */
  bootstrap: string;
  /** The client port that was checked. */
  port: number;
  /** Whether the port answers Kafka requests, whichever broker that is. */
  listening: boolean;
  /** The JVM's pid, when it runs. */
  pid?: number;
  /** The Kafka version it was started with, when it runs. */
  version?: string;
  /**
   * The processes whose exit (all of them) stops the broker, when it was started with an owner;
   * undefined for a broker that runs until stopped.
   */
  owners?: number[];
  /** The broker's log file. */
  logFile: string;
}

/** Options of {@linkcode brokerStatus}. */
export interface BrokerStatusOptions {
  /** The data directory. Default {@linkcode defaultDataDir} of the port. */
  dataDir?: string;
  /**
   * The client port. Default: the one in the pid file or `server.properties`, else
   * {@linkcode DEFAULT_PORT}.
   */
  port?: number;
  /** Cache root of the helper. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
}

/**
 * Reports whether the broker of a data directory runs, from its pid file, its JVM and a Kafka
 * request to its port. Removes a pid file whose JVM is gone.
 *
 * @param options The data directory and port.
 * @returns The state, with pid and version when it runs.
 *
 * @example
 * ```ts ignore
 * import { brokerStatus } from "./state.ts";
 * const { state } = await brokerStatus({ port: 9092 });
 * ```
 */
export async function brokerStatus(options: BrokerStatusOptions = {}): Promise<BrokerStatus> {
  const dataDir = resolve(options.dataDir ?? defaultDataDir(options.port));
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const pidFile = await readPidFile(dataDir);
  const port = options.port ?? pidFile?.port ?? await configuredPort(dataDir) ?? DEFAULT_PORT;
  const listening = await answersKafka(port);
  const status: BrokerStatus = {
    state: "stopped",
    bootstrap: `${BROKER_HOST}:${port}`,
    port,
    listening,
    logFile: join(dataDir, "logs", "server.log"),
  };
  if (pidFile && await isBrokerAlive(cacheDir, dataDir, pidFile.pid)) {
    const stopping = pidFile.owned && await exists(join(dataDir, "stopping"));
    status.state = stopping
      ? "stopping"
      : listening && pidFile.port === port
      ? "running"
      : "starting";
    status.pid = pidFile.pid;
    status.version = pidFile.version;
    if (pidFile.owned) status.owners = await listOwners(dataDir);
  } else if (pidFile) {
    await forget(dataDir);
  }
  return status;
}

/** Options of {@linkcode stopBroker}. */
export interface StopBrokerOptions {
  /** The data directory. Default {@linkcode defaultDataDir} of {@linkcode DEFAULT_PORT}. */
  dataDir?: string;
  /** How long to wait after SIGTERM before SIGKILL. Default 20000 ms. */
  timeoutMs?: number;
  /** SIGKILL at once instead of a clean shutdown, as a crash or power loss would. Default false. */
  kill?: boolean;
  /** Cache root of the helper. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
}

/** What {@linkcode stopBroker} did. */
export type StopResult = "stopped" | "killed" | "not-running";

/**
 * Stops the broker of a data directory: SIGTERM (a clean shutdown, about 2 s), then SIGKILL after
 * the timeout. Resolves once the JVM is gone and its port is free.
 *
 * @param options The data directory and the timeout.
 * @returns `stopped`, `killed` (it ignored SIGTERM) or `not-running`.
 *
 * @example
 * ```ts ignore
 * import { stopBroker } from "./state.ts";
 * await stopBroker({ dataDir: ".kafka/9092" });
 * ```
 */
export async function stopBroker(options: StopBrokerOptions = {}): Promise<StopResult> {
  const dataDir = resolve(options.dataDir ?? defaultDataDir());
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const pidFile = await readPidFile(dataDir);
  if (!pidFile) return "not-running";
  const timeoutMs = options.timeoutMs ?? 20_000;
  const { code, output } = await helper(
    cacheDir,
    options.kill
      ? ["kill", String(pidFile.pid), marker(dataDir)]
      : ["stop", String(pidFile.pid), marker(dataDir), String(timeoutMs)],
  );
  const result = output.trim().split("\n").at(-1) as StopResult;
  if (code !== 0 || !["stopped", "killed", "not-running"].includes(result)) {
    throw new Error(`Cannot stop Kafka broker ${pidFile.pid}: helper failed\n${tail(output)}`);
  }
  await forget(dataDir);
  for (let i = 0; i < 100 && !portIsFree(pidFile.port); i++) await delay(100);
  return result;
}

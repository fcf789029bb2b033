/**
 * One Kafka broker for development and tests: formats a KRaft storage directory and runs one
 * combined broker+controller node on loopback as a detached JVM (a session of its own, no
 * controlling terminal, standard streams to its log: it outlives the terminal that started
 * it), after fetching its jars
 * (`jars.ts`). Its data directory's layout is in `data_dir.ts`; its status and stop in
 * `state.ts`; a cluster of such brokers in `cluster.ts`.
 *
 * @module
 */
import { join, resolve } from "node:path";
import {
  BROKER_HOST,
  DEFAULT_KAFKA_VERSION,
  DEFAULT_PORT,
  defaultCacheDir,
  defaultDataDir,
  kafkaMajor,
} from "./defaults.ts";
import {
  type ClusterMembership,
  log4j2Xml,
  log4jProperties,
  randomClusterId,
  serverProperties,
} from "./config.ts";
import { addOwner, forget, marker, type PidFile, readPidFile, writePidFile } from "./data_dir.ts";
import { ensureHelper, helper, HELPER_CLASS } from "./helper.ts";
import { ensureKafkaJars } from "./jars.ts";
import { answersKafka, portIsFree } from "./probe.ts";
import { delay, exists, run, tail } from "./run.ts";
import { brokerStatus, isBrokerAlive, stopBroker } from "./state.ts";

/** Options of {@linkcode startBroker}. */
export interface StartBrokerOptions {
  /** Client port on 127.0.0.1. Default {@linkcode DEFAULT_PORT}. */
  port?: number;
  /** KRaft controller port on 127.0.0.1. Default `port + 1`. */
  controllerPort?: number;
  /** Data directory, created if missing. Default {@linkcode defaultDataDir} of the port. */
  dataDir?: string;
  /** Apache Kafka version. Default {@linkcode DEFAULT_KAFKA_VERSION}. */
  version?: string;
  /** Cache root of the jars and the helper. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /** Maximum JVM heap, as for `-Xmx`. Default `"512m"`. */
  heap?: string;
  /**
   * Stop the broker once the process with this pid has exited (checked every 0.5 s). With
   * `reuse`, an owned broker that runs already gets this pid as one more owner, and stops once
   * all of them have exited. Default: the broker runs until stopped.
   */
  ownerPid?: number;
  /** If a broker of this data directory runs already, return it instead of throwing. Default false. */
  reuse?: boolean;
  /** How long to wait for the broker to accept clients. Default 120000 ms. */
  timeoutMs?: number;
  /** Receives one line per step taken. Default: silent. */
  log?: (line: string) => void;
  /** Membership of a multi-node cluster (see `cluster.ts`). Default: a cluster of
   * one node. */
  cluster?: ClusterMembership;
  /**
   * Properties appended to `server.properties`, after upbus's own: a key given here wins (more
   * listeners, TLS, SASL). The client port stays a PLAINTEXT listener, used to check readiness.
   * Default none.
   */
  extraProperties?: Record<string, string>;
  /** Extra arguments of `kafka-storage format` on a new data directory, e.g. `--add-scram`.
   * Default none. */
  formatArgs?: string[];
}

/** A running broker. */
export interface BrokerHandle {
  /** `127.0.0.1:<port>`, for `KAFKA_BROKERS` or kafkajs `brokers`. */
  bootstrap: string;
  /** Client port. */
  port: number;
  /** KRaft controller port. */
  controllerPort: number;
  /** The JVM's pid. */
  pid: number;
  /** The Kafka version. */
  version: string;
  /** The data directory (absolute). */
  dataDir: string;
  /** The broker's log file. */
  logFile: string;
  /** False when `reuse` found it running already. */
  started: boolean;
  /** Milliseconds from launch to accepting clients (0 when reused). */
  startupMs: number;
  /** Stops it, as {@linkcode stopBroker} does. */
  stop(): Promise<void>;
}

/** Holds `<dataDir>/start.lock` while `fn` runs, so concurrent starters start one broker. */
async function withStartLock<T>(dataDir: string, timeoutMs: number, fn: () => Promise<T>) {
  const lock = join(dataDir, "start.lock");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await Deno.writeTextFile(lock, JSON.stringify({ pid: Deno.pid, at: new Date() }), {
        createNew: true,
      });
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const mtime = (await Deno.stat(lock).catch(() => undefined))?.mtime?.getTime();
      if (mtime !== undefined && Date.now() - mtime > timeoutMs) {
        await Deno.remove(lock).catch(() => {}); // left by a starter that died
        continue;
      }
      if (Date.now() > deadline) {
        throw new Deno.errors.TimedOut(
          `Cannot start Kafka broker: ${lock} is held by another starter`,
        );
      }
      await delay(250);
    }
  }
  try {
    return await fn();
  } finally {
    await Deno.remove(lock).catch(() => {});
  }
}

/**
 * Starts a single-node KRaft broker (combined broker and controller) on 127.0.0.1 as a detached
 * JVM, after fetching its jars and formatting its storage when needed. Resolves once the
 * broker answers Kafka requests; its log goes to `<dataDir>/logs/server.log`.
 *
 * @param options Ports, data directory, version and lifetime.
 * @returns A handle with the bootstrap address, the pid and `stop()`.
 * @throws {Deno.errors.AlreadyExists} If this data directory's broker runs and `reuse` is false.
 * @throws {Deno.errors.AddrInUse} If another process holds the client or controller port.
 * @throws {Deno.errors.TimedOut} If the broker does not accept clients within `timeoutMs`.
 * @throws {Error} If the jars cannot be fetched, or formatting or the JVM fails (with log tail).
 *
 * @example
 * ```ts ignore
 * import { startBroker } from "./broker.ts";
 * const broker = await startBroker({ port: 9092, dataDir: ".kafka/9092" });
 * console.log(broker.bootstrap); // 127.0.0.1:9092
 * await broker.stop();
 * ```
 */
export async function startBroker(options: StartBrokerOptions = {}): Promise<BrokerHandle> {
  const port = options.port ?? DEFAULT_PORT;
  const controllerPort = options.controllerPort ?? port + 1;
  for (const [name, value] of [["port", port], ["controllerPort", controllerPort]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 65535) {
      throw new RangeError(`Cannot start Kafka broker: ${name} must be 1-65535, got ${value}`);
    }
  }
  if (port === controllerPort) {
    throw new RangeError(`Cannot start Kafka broker: port and controllerPort are both ${port}`);
  }
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const major = kafkaMajor(version);
  const dataDir = resolve(options.dataDir ?? defaultDataDir(port));
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const log = options.log ?? (() => {});
  await Deno.mkdir(join(dataDir, "logs"), { recursive: true });

  const stopThis = async () => {
    await stopBroker({ dataDir, cacheDir });
  };
  const existing = async (): Promise<BrokerHandle | undefined> => {
    const status = await brokerStatus({ dataDir, port, cacheDir });
    if (status.state === "stopped") return undefined;
    if (status.state === "starting" || status.state === "stopping") {
      // Started by a caller that died, or shutting down: wait for it to settle.
      const deadline = Date.now() + timeoutMs;
      let now = status;
      while ((now.state === "starting" || now.state === "stopping") && Date.now() < deadline) {
        await delay(250);
        now = await brokerStatus({ dataDir, port, cacheDir });
      }
      if (now.state === "stopped") return undefined;
      if (now.state !== "running") {
        throw new Deno.errors.TimedOut(
          `Cannot start Kafka broker: pid ${now.pid} in ${dataDir} neither answers on ${now.bootstrap} nor exits`,
        );
      }
    }
    const pidFile = await readPidFile(dataDir);
    if (!options.reuse) {
      throw new Deno.errors.AlreadyExists(
        `Cannot start Kafka broker: one is running already on ${status.bootstrap} (pid ${pidFile?.pid}, data ${dataDir})`,
      );
    }
    return {
      bootstrap: `${BROKER_HOST}:${port}`,
      port,
      controllerPort: pidFile?.controllerPort ?? controllerPort,
      pid: pidFile?.pid ?? 0,
      version: pidFile?.version ?? version,
      dataDir,
      logFile: join(dataDir, "logs", "server.log"),
      started: false,
      startupMs: 0,
      stop: stopThis,
    };
  };

  return await withStartLock(dataDir, timeoutMs, async () => {
    // Owner first, then the look at `stopping` (see the owners protocol).
    if (options.ownerPid !== undefined && options.reuse) await addOwner(dataDir, options.ownerPid);
    const running = await existing();
    if (running) return running;
    for (const p of [port, controllerPort]) {
      if (!portIsFree(p)) {
        throw new Deno.errors.AddrInUse(
          `Cannot start Kafka broker: ${BROKER_HOST}:${p} is already in use by another process`,
        );
      }
    }

    const jarsDir = await ensureKafkaJars({ version, cacheDir, log });
    const helperDir = await ensureHelper(cacheDir);
    const logsDir = join(dataDir, "logs");
    const storageDir = join(dataDir, "data");
    const propertiesPath = marker(dataDir);
    await Deno.writeTextFile(
      propertiesPath,
      serverProperties({
        port,
        controllerPort,
        logDir: storageDir,
        cluster: options.cluster,
        extra: options.extraProperties,
      }),
    );
    const logProperty = major >= 4
      ? `-Dlog4j2.configurationFile=${join(dataDir, "log4j2.xml")}`
      : `-Dlog4j.configuration=file:${join(dataDir, "log4j.properties")}`;
    if (major >= 4) await Deno.writeTextFile(join(dataDir, "log4j2.xml"), log4j2Xml(logsDir));
    else await Deno.writeTextFile(join(dataDir, "log4j.properties"), log4jProperties(logsDir));
    const classpath = `${helperDir}:${jarsDir}/*`;

    if (!(await exists(join(storageDir, "meta.properties")))) {
      log(`Formatting KRaft storage in ${storageDir}`);
      const { code, output } = await run("java", [
        "-cp",
        classpath,
        logProperty,
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        options.cluster?.clusterId ?? randomClusterId(),
        "--config",
        propertiesPath,
        ...(options.formatArgs ?? []),
      ], "format Kafka storage");
      if (code !== 0) {
        throw new Error(
          `Cannot format Kafka storage in ${storageDir}: exit code ${code}\n${tail(output)}`,
        );
      }
    }

    const ownersDir = join(dataDir, "owners");
    await Deno.remove(ownersDir, { recursive: true }).catch(() => {});
    await Deno.remove(join(dataDir, "stopping")).catch(() => {});
    if (options.ownerPid !== undefined) await addOwner(dataDir, options.ownerPid);
    const stdoutLog = join(logsDir, "stdout.log");
    const jvm = [
      "java",
      "-Xms64m",
      `-Xmx${options.heap ?? "512m"}`,
      "-XX:+UseSerialGC",
      "-XX:+ExitOnOutOfMemoryError",
      "-Djava.awt.headless=true",
      `-Dkafka.logs.dir=${logsDir}`,
      logProperty,
      "-cp",
      classpath,
    ];
    log(
      `Starting Kafka ${version} on ${BROKER_HOST}:${port} (controller on port ${controllerPort})`,
    );
    const launchedAt = performance.now();
    const spawned = await helper(cacheDir, [
      "spawn",
      stdoutLog,
      ...jvm,
      HELPER_CLASS,
      "broker",
      options.ownerPid === undefined ? "-" : ownersDir,
      "kafka.Kafka",
      propertiesPath,
    ]);
    const pid = Number(spawned.output.trim());
    if (spawned.code !== 0 || !Number.isInteger(pid) || pid <= 0) {
      throw new Error(`Cannot start Kafka broker: the JVM did not launch\n${tail(spawned.output)}`);
    }
    const pidFile: PidFile = {
      pid,
      port,
      controllerPort,
      version,
      owned: options.ownerPid !== undefined,
      startedAt: new Date().toISOString(),
    };
    await writePidFile(dataDir, pidFile);

    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0;; attempt++) {
      if (await answersKafka(port)) break;
      // Checking the JVM costs a JVM start of its own: do it every 2 s only.
      if (attempt % 8 === 7 && !(await isBrokerAlive(cacheDir, dataDir, pid))) {
        await forget(dataDir);
        throw new Error(
          `Cannot start Kafka broker: the JVM exited during startup; see ${logsDir}\n${await logTails(
            logsDir,
          )}`,
        );
      }
      if (Date.now() > deadline) {
        await stopThis();
        throw new Deno.errors.TimedOut(
          `Cannot start Kafka broker: ${BROKER_HOST}:${port} did not answer within ${timeoutMs} ms; see ${logsDir}\n${await logTails(
            logsDir,
          )}`,
        );
      }
      await delay(250);
    }
    return {
      bootstrap: `${BROKER_HOST}:${port}`,
      port,
      controllerPort,
      pid,
      version,
      dataDir,
      logFile: join(logsDir, "server.log"),
      started: true,
      startupMs: Math.round(performance.now() - launchedAt),
      stop: stopThis,
    };
  });
}

async function logTails(logsDir: string): Promise<string> {
  const parts: string[] = [];
  for (const name of ["stdout.log", "server.log"]) {
    const text = await Deno.readTextFile(join(logsDir, name)).catch(() => "");
    if (text.trim()) parts.push(`--- ${name} ---\n${tail(text, 15)}`);
  }
  return parts.join("\n");
}

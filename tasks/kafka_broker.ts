/**
 * Kafka broker for development and tests: fetches the official Apache Kafka jars from Maven
 * Central with Maven, formats a KRaft storage directory and runs one combined broker+controller
 * node on loopback as a detached JVM.
 *
 * Layout of a data directory (`.kafka/9092` by default for port 9092):
 * - `server.properties`, `log4j2.xml` (Kafka 4) or `log4j.properties` (Kafka 3): written on
 *   every start;
 * - `broker.json`: the pid file (pid, ports, version), removed on stop;
 * - `owners/<pid>`: for a broker started with `ownerPid`, one empty file per process that uses
 *   it; the broker shuts itself down once none of these processes is alive, writing `stopping`
 *   first;
 * - `logs/server.log`: the broker's log; `logs/stdout.log`: anything the JVM prints itself;
 * - `data/`: the KRaft metadata log and the topic partitions, kept between starts.
 *
 * The jars are cached in `~/.cache/upbus/kafka/<version>/jars` (with the `pom.xml` that listed
 * them), together with a tiny compiled Java helper (`~/.cache/upbus/kafka/helper-<hash>`) that
 * starts the broker detached with its output in a file, stops it when its owners have exited,
 * and checks or stops it by pid: Deno's `Deno.kill` needs unrestricted `--allow-run`, the
 * helper needs only `--allow-run=java`.
 *
 * Topics are not auto-created (`auto.create.topics.enable=false`): a typo in a topic name fails
 * loudly, and the code that creates topics is exercised.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The Kafka version used when none is given: see the README for why this one. */
export const DEFAULT_KAFKA_VERSION = "4.4.0";

/** The client port used when none is given. */
export const DEFAULT_PORT = 9092;

/** The only interface the broker listens on. */
export const BROKER_HOST = "127.0.0.1";

/** The project root: `.kafka/` data directories are relative to it. */
export const PROJECT_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

const LOG4J2_SLF4J_BINDING = "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3";
const RELOAD4J_SLF4J_BINDING = "org.slf4j:slf4j-reload4j:1.7.36";
const DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1";
const PID_FILE = "broker.json";
const HELPER_CLASS = "UpbusKafka";

/** Where the jars and the helper are cached unless told otherwise: `$HOME/.cache/upbus/kafka`. */
export function defaultCacheDir(): string {
  const home = Deno.env.get("HOME");
  if (!home) {
    throw new TypeError(
      'Cannot find the Kafka jar cache: "HOME" is not set; pass cacheDir, e.g. "/tmp/kafka-cache"',
    );
  }
  return join(home, ".cache", "upbus", "kafka");
}

/**
 * The data directory used for a port unless told otherwise: `<project>/.kafka/<port>`.
 *
 * @param port The broker's client port.
 * @returns An absolute path.
 */
export function defaultDataDir(port: number = DEFAULT_PORT): string {
  return join(PROJECT_ROOT, ".kafka", String(port));
}

/** Options of {@linkcode ensureKafkaJars}. */
export interface KafkaJarsOptions {
  /** Apache Kafka version, e.g. `"4.4.0"`. Default {@linkcode DEFAULT_KAFKA_VERSION}. */
  version?: string;
  /** Cache root; the jars go to `<cacheDir>/<version>/jars`. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /** Receives one line per step taken (fetching, formatting...). Default: silent. */
  log?: (line: string) => void;
}

function checkVersion(version: string): number {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  const major = match ? Number(match[1]) : 0;
  if (major < 3) {
    throw new RangeError(
      `Cannot use Kafka version "${version}": expected a 3.x or 4.x release such as "${DEFAULT_KAFKA_VERSION}"`,
    );
  }
  return major;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

const decoder = new TextDecoder();
/** Maven writes colour resets even in batch mode with `-Dstyle.color=never`. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

interface Ran {
  code: number;
  output: string;
}

async function run(
  program: string,
  args: string[],
  action: string,
  detached = false,
): Promise<Ran> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(program, { args, stdin: "null", detached }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      const install = program === "mvn" ? "Maven (apt-get install maven)" : "a JDK 17 or later";
      throw new Error(`Cannot ${action}: ${program} is not installed; install ${install}`, {
        cause: error,
      });
    }
    throw error;
  }
  const output = (decoder.decode(result.stdout) + decoder.decode(result.stderr))
    .replace(ANSI_COLOUR, "");
  return { code: result.code, output };
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Moves a finished `partial` directory to `target`; loses gracefully to a concurrent winner. */
async function publishDir(partial: string, target: string): Promise<void> {
  try {
    await Deno.rename(partial, target);
  } catch (error) {
    if (!(await exists(target))) throw error;
    await Deno.remove(partial, { recursive: true });
  }
}

function pom(version: string, major: number): string {
  const binding = major >= 4 ? LOG4J2_SLF4J_BINDING : RELOAD4J_SLF4J_BINDING;
  const [group, artifact, bindingVersion] = binding.split(":");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by upbus tasks/kafka_broker.ts: the jars of an Apache Kafka ${version} broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.upbus</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${version}</version>
    </dependency>
    <!-- Kafka only depends on slf4j-api; the distribution adds this binding. -->
    <dependency>
      <groupId>${group}</groupId>
      <artifactId>${artifact}</artifactId>
      <version>${bindingVersion}</version>
    </dependency>
  </dependencies>
</project>
`;
}

/**
 * Fetches the jars of an Apache Kafka broker (`org.apache.kafka:kafka_2.13` and its runtime
 * dependencies, plus an slf4j logging binding) from Maven Central with `mvn`, unless they are
 * cached already; also compiles the small helper that starts and stops brokers. After this, a
 * start needs no network.
 *
 * @param options The version and the cache root.
 * @returns The directory holding the jars, for a `-cp '<dir>/*'` class path.
 * @throws {RangeError} If the version is not a 3.x or 4.x release number.
 * @throws {Error} If Maven is missing or fails (the message ends with its output).
 *
 * @example
 * ```ts ignore
 * import { ensureKafkaJars } from "./kafka_broker.ts";
 * const jars = await ensureKafkaJars({ version: "4.4.0" });
 * ```
 */
export async function ensureKafkaJars(options: KafkaJarsOptions = {}): Promise<string> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const major = checkVersion(version);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  await ensureHelper(cacheDir);
  const versionDir = join(cacheDir, version);
  const jarsDir = join(versionDir, "jars");
  if (await exists(join(jarsDir, `kafka_2.13-${version}.jar`))) return jarsDir;

  options.log?.(`Fetching Apache Kafka ${version} jars with Maven into ${jarsDir}`);
  await Deno.mkdir(versionDir, { recursive: true });
  const pomPath = join(versionDir, "pom.xml");
  await Deno.writeTextFile(pomPath, pom(version, major));
  const partial = await Deno.makeTempDir({ dir: versionDir, prefix: "jars.partial-" });
  try {
    const { code, output } = await run("mvn", [
      "--batch-mode",
      "--quiet",
      "-Dstyle.color=never",
      "--file",
      pomPath,
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      `-DoutputDirectory=${partial}`,
      "-DincludeScope=runtime",
    ], `fetch Kafka ${version} jars`);
    if (code !== 0 || !(await exists(join(partial, `kafka_2.13-${version}.jar`)))) {
      throw new Error(
        `Cannot fetch Kafka ${version} jars: mvn exited with code ${code}\n${tail(output)}`,
      );
    }
    await publishDir(partial, jarsDir);
  } finally {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
  }
  return jarsDir;
}

/**
 * The Java helper: `spawn` starts a command detached (stdin from /dev/null, output appended to a
 * file) and prints its pid; `broker` runs a main class and exits, running its shutdown hooks,
 * once no process named in an owners directory is alive; `alive` and `stop` find a process by pid
 * and a marker in its command line, then report it or stop it (SIGTERM, SIGKILL after a timeout).
 *
 * The owners protocol: a new owner creates `owners/<pid>` and only then checks for `stopping`;
 * the broker, finding no live owner, writes `stopping` and only then looks once more, staying
 * (and deleting `stopping`) if an owner appeared. So an owner either keeps the broker alive or
 * sees it stopping, never neither.
 */
const HELPER_SOURCE = `import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/** upbus Kafka helper, written and compiled by tasks/kafka_broker.ts. */
public final class ${HELPER_CLASS} {
  public static void main(String[] args) throws Exception {
    switch (args.length == 0 ? "" : args[0]) {
      case "spawn" -> spawn(args[1], Arrays.copyOfRange(args, 2, args.length));
      case "broker" -> broker(args[1], args[2], Arrays.copyOfRange(args, 3, args.length));
      case "alive" -> System.exit(find(args[1], args[2]).isPresent() ? 0 : 1);
      case "stop" -> System.out.println(stop(args[1], args[2], Long.parseLong(args[3])));
      case "kill" -> System.out.println(kill(args[1], args[2]));
      default -> {
        System.err.println("usage: spawn LOG CMD... | broker OWNERS_DIR|- MAIN ARGS... | alive PID MARKER | stop PID MARKER TIMEOUT_MS | kill PID MARKER");
        System.exit(2);
      }
    }
  }

  static void spawn(String log, String[] command) throws Exception {
    List<String> cmd = new ArrayList<>(Arrays.asList(command));
    if (cmd.get(0).equals("java")) cmd.set(0, Path.of(System.getProperty("java.home"), "bin", "java").toString());
    Process process = new ProcessBuilder(cmd)
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectOutput(ProcessBuilder.Redirect.appendTo(new File(log)))
        .redirectErrorStream(true)
        .start();
    System.out.println(process.pid());
  }

  static void broker(String ownersDir, String mainClass, String[] args) throws Exception {
    if (!ownersDir.equals("-")) {
      Path owners = Path.of(ownersDir);
      Path stopping = owners.resolveSibling("stopping");
      Thread watch = new Thread(() -> {
        try {
          for (;;) {
            Thread.sleep(500);
            if (liveOwners(owners) > 0) continue;
            Files.writeString(stopping, String.valueOf(ProcessHandle.current().pid()));
            if (liveOwners(owners) > 0) {
              Files.deleteIfExists(stopping);
              continue;
            }
            System.err.println("upbus: every owner of the broker has exited; stopping it");
            System.exit(0);
          }
        } catch (InterruptedException e) {
          // the JVM is exiting
        } catch (IOException e) {
          System.err.println("upbus: cannot watch " + owners + ": " + e + "; stopping the broker");
          System.exit(1);
        }
      }, "upbus-owner-watch");
      watch.setDaemon(true);
      watch.start();
    }
    Class.forName(mainClass).getMethod("main", String[].class).invoke(null, (Object) args);
  }

  /** Counts the files of the owners directory named after a live pid; deletes the others. */
  static int liveOwners(Path owners) throws IOException {
    int live = 0;
    List<Path> files;
    try (var list = Files.list(owners)) {
      files = list.toList();
    }
    for (Path file : files) {
      long pid;
      try {
        pid = Long.parseLong(file.getFileName().toString());
      } catch (NumberFormatException e) {
        continue;
      }
      if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) live++;
      else Files.deleteIfExists(file);
    }
    return live;
  }

  static Optional<ProcessHandle> find(String pid, String marker) {
    return ProcessHandle.of(Long.parseLong(pid))
        .filter(p -> p.isAlive() && p.info().commandLine().map(c -> c.contains(marker)).orElse(false));
  }

  static boolean gone(ProcessHandle p, long timeoutMs) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMs;
    do {
      if (!p.isAlive() || p.info().commandLine().isEmpty()) return true;
      Thread.sleep(50);
    } while (System.currentTimeMillis() < deadline);
    return false;
  }

  static String stop(String pid, String marker, long timeoutMs) throws InterruptedException {
    Optional<ProcessHandle> found = find(pid, marker);
    if (found.isEmpty()) return "not-running";
    ProcessHandle p = found.get();
    p.destroy();
    if (gone(p, timeoutMs)) return "stopped";
    p.destroyForcibly();
    gone(p, 10_000);
    return "killed";
  }

  /** SIGKILL at once, as a crash would: no clean shutdown, no controlled leader hand-over. */
  static String kill(String pid, String marker) throws InterruptedException {
    Optional<ProcessHandle> found = find(pid, marker);
    if (found.isEmpty()) return "not-running";
    ProcessHandle p = found.get();
    p.destroyForcibly();
    gone(p, 10_000);
    return "killed";
  }
}
`;

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compiles the helper once per source version; returns the class directory. */
async function ensureHelper(cacheDir: string): Promise<string> {
  const dir = join(cacheDir, `helper-${(await sha256Hex(HELPER_SOURCE)).slice(0, 12)}`);
  if (await exists(join(dir, `${HELPER_CLASS}.class`))) return dir;
  await Deno.mkdir(cacheDir, { recursive: true });
  const partial = await Deno.makeTempDir({ dir: cacheDir, prefix: "helper.partial-" });
  try {
    const source = join(partial, `${HELPER_CLASS}.java`);
    await Deno.writeTextFile(source, HELPER_SOURCE);
    const { code, output } = await run(
      "java",
      ["-m", "jdk.compiler/com.sun.tools.javac.Main", "-d", partial, source],
      "compile the Kafka broker helper",
    );
    if (code !== 0) {
      throw new Error(
        `Cannot compile the Kafka broker helper: javac exited with code ${code} (is java a JDK 17+?)\n${
          tail(output)
        }`,
      );
    }
    await publishDir(partial, dir);
  } finally {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
  }
  return dir;
}

/** Runs the helper; `detached` gives it (and so a broker it spawns) a session of its own. */
async function helper(cacheDir: string, args: string[], detached = false): Promise<Ran> {
  const classes = await ensureHelper(cacheDir);
  return await run(
    "java",
    ["-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", classes, HELPER_CLASS, ...args],
    "run the Kafka broker helper",
    detached,
  );
}

/** What `broker.json` holds. */
interface PidFile {
  pid: number;
  port: number;
  controllerPort: number;
  version: string;
  /** Started with an owner: it stops once every process in `owners/` has exited. */
  owned: boolean;
  startedAt: string;
}

/** Removes what only a running broker needs: the pid file and the `stopping` mark. */
async function forget(dataDir: string): Promise<void> {
  for (const name of [PID_FILE, "stopping"]) {
    await Deno.remove(join(dataDir, name)).catch(() => {});
  }
}

async function readPidFile(dataDir: string): Promise<PidFile | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dataDir, PID_FILE))) as PidFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** The marker the helper looks for in a broker's command line: its own properties file. */
function marker(dataDir: string): string {
  return join(dataDir, "server.properties");
}

async function isBrokerAlive(cacheDir: string, dataDir: string, pid: number): Promise<boolean> {
  const { code } = await helper(cacheDir, ["alive", String(pid), marker(dataDir)]);
  return code === 0;
}

/**
 * Whether something on `port` answers a Kafka ApiVersions request: true only once the broker
 * has caught up with its metadata and accepts clients.
 *
 * @param port The client port on 127.0.0.1.
 * @param timeoutMs How long to wait for the answer. Default 2000.
 * @returns True when an ApiVersions response without error came back.
 */
export async function answersKafka(port: number, timeoutMs = 2000): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ hostname: BROKER_HOST, port });
    const clientId = new TextEncoder().encode("upbus-probe");
    const request = new Uint8Array(14 + clientId.length);
    const view = new DataView(request.buffer);
    view.setInt32(0, request.length - 4); // size
    view.setInt16(4, 18); // ApiVersions
    view.setInt16(6, 0); // version 0: every broker since 0.10 answers it
    view.setInt32(8, 0x75b5); // correlation id
    view.setInt16(12, clientId.length);
    request.set(clientId, 14);
    for (let written = 0; written < request.length;) {
      written += await conn.write(request.subarray(written));
    }
    const head = new Uint8Array(10); // size, correlation id, error code
    for (let read = 0; read < head.length;) {
      const n = await conn.read(head.subarray(read));
      if (n === null) return false;
      read += n;
    }
    const answer = new DataView(head.buffer);
    return answer.getInt32(4) === 0x75b5 && answer.getInt16(8) === 0;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // closed by the timer already
    }
  }
}

function portIsFree(port: number): boolean {
  try {
    const listener = Deno.listen({ hostname: BROKER_HOST, port });
    listener.close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
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

async function listOwners(dataDir: string): Promise<number[]> {
  const owners: number[] = [];
  try {
    for await (const entry of Deno.readDir(join(dataDir, "owners"))) {
      if (/^\d+$/.test(entry.name)) owners.push(Number(entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return owners.sort((a, b) => a - b);
}

/** Marks `pid` as a user of the data directory's broker (see the owners protocol above). */
async function addOwner(dataDir: string, pid: number): Promise<void> {
  await Deno.mkdir(join(dataDir, "owners"), { recursive: true });
  await Deno.writeTextFile(join(dataDir, "owners", String(pid)), "");
}

async function configuredPort(dataDir: string): Promise<number | undefined> {
  const text = await Deno.readTextFile(marker(dataDir)).catch(() => "");
  const match = /^listeners=PLAINTEXT:\/\/[^:]+:(\d+)/m.exec(text);
  return match ? Number(match[1]) : undefined;
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
 * import { brokerStatus } from "./kafka_broker.ts";
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
 * import { stopBroker } from "./kafka_broker.ts";
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
  /** Membership of a multi-node cluster (see `tasks/kafka_cluster.ts`). Default: a cluster of
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

/** One node's place in a KRaft cluster of combined broker+controller nodes. */
export interface ClusterMembership {
  /** This node's `node.id`, from 1. */
  nodeId: number;
  /** `controller.quorum.voters`: `1@127.0.0.1:9193,2@127.0.0.1:9195,...`. */
  voters: string;
  /** The cluster id every node is formatted with. */
  clusterId: string;
  /** Number of nodes: replication factors are `min(3, size)`, `min.insync.replicas` one less. */
  size: number;
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

function serverProperties(o: {
  port: number;
  controllerPort: number;
  logDir: string;
  cluster?: ClusterMembership;
  extra?: Record<string, string>;
}): string {
  const nodeId = o.cluster?.nodeId ?? 1;
  const replicas = Math.min(3, o.cluster?.size ?? 1);
  const minIsr = Math.max(1, replicas - 1);
  return `# Written by upbus tasks/kafka_broker.ts on every start: a KRaft broker (node ${nodeId} of
# ${o.cluster?.size ?? 1}) for development and tests. Edits are lost.
process.roles=broker,controller
node.id=${nodeId}
controller.quorum.voters=${o.cluster?.voters ?? `1@${BROKER_HOST}:${o.controllerPort}`}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://${BROKER_HOST}:${o.port},CONTROLLER://${BROKER_HOST}:${o.controllerPort}
advertised.listeners=PLAINTEXT://${BROKER_HOST}:${o.port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${o.logDir}

# Every topic has min(3, nodes) replicas; with more than one, a write needs all but one of them.
offsets.topic.replication.factor=${replicas}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=${replicas}
transaction.state.log.min.isr=${minIsr}
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=${replicas}
share.coordinator.state.topic.min.isr=${minIsr}
default.replication.factor=${replicas}
min.insync.replicas=${minIsr}
unclean.leader.election.enable=false
num.partitions=1
auto.create.topics.enable=false

# Fast for tests: no initial rebalance delay, few threads.
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.retention.hours=168
${Object.entries(o.extra ?? {}).map(([key, value]) => `${key}=${value}\n`).join("")}`;
}

function log4j2Xml(logsDir: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by upbus tasks/kafka_broker.ts: everything to logs/server.log, rolled at 10 MB. -->
<Configuration status="warn" shutdownHook="disable">
  <Appenders>
    <RollingFile name="file" fileName="${logsDir}/server.log" filePattern="${logsDir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="10 MB"/>
      <DefaultRolloverStrategy max="2"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="file"/></Root>
${QUIET_LOGGERS.map((name) => `    <Logger name="${name}" level="warn"/>`).join("\n")}
  </Loggers>
</Configuration>
`;
}

function log4jProperties(logsDir: string): string {
  return `# Written by upbus tasks/kafka_broker.ts: everything to logs/server.log, rolled at 10 MB.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${logsDir}/server.log
log4j.appender.file.MaxFileSize=10MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
${QUIET_LOGGERS.map((name) => `log4j.logger.${name}=WARN`).join("\n")}
`;
}

/** Loggers that print a line per partition, request or config key at INFO. */
const QUIET_LOGGERS = [
  "org.apache.kafka.common.config",
  "kafka.server.KafkaConfig",
  "kafka.request.logger",
  "state.change.logger",
  "kafka.cluster",
  "kafka.log",
  "org.apache.kafka.storage",
  "org.apache.kafka.coordinator",
  "org.apache.kafka.controller.ReplicationControlManager",
  "kafka.coordinator",
  "kafka.server.ReplicaFetcherManager",
  "kafka.server.ReplicaAlterLogDirsManager",
  "org.apache.kafka.server.quota",
  "org.apache.kafka.server.purgatory",
  "org.apache.kafka.server.util.timer",
  "org.apache.kafka.common.metrics",
];

/** A random KRaft cluster id: 16 bytes, base64url, not starting with "-" (as Kafka's own). */
export function randomClusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
      .replace(/=+$/, "");
    if (!id.startsWith("-")) return id;
  }
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
 * import { startBroker } from "./kafka_broker.ts";
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
  const major = checkVersion(version);
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
    ], true);
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
    await Deno.writeTextFile(join(dataDir, PID_FILE), JSON.stringify(pidFile, null, 2) + "\n");

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

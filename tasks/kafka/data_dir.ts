/**
 * The files of a broker's data directory that say what runs (`.kafka/9092` by default for port
 * 9092):
 * - `server.properties`, `log4j2.xml` (Kafka 4) or `log4j.properties` (Kafka 3): written on
 *   every start (see `config.ts`);
 * - `broker.json`: the pid file (pid, ports, version), removed on stop;
 * - `owners/<pid>`: for a broker started with `ownerPid`, one empty file per process that uses
 *   it; the broker shuts itself down once none of these processes is alive, writing `stopping`
 *   first (the owners protocol is in `UpbusKafka.java`);
 * - `logs/server.log`: the broker's log; `logs/stdout.log`: anything the JVM prints itself;
 * - `data/`: the KRaft metadata log and the topic partitions, kept between starts.
 *
 * @module
 */
import { join } from "node:path";

/** The pid file's name in a data directory. */
export const PID_FILE = "broker.json";

/** What `broker.json` holds. */
export interface PidFile {
  /** The broker JVM's pid. */
  pid: number;
  /** Its client port. */
  port: number;
  /** Its KRaft controller port. */
  controllerPort: number;
  /** The Kafka version it runs. */
  version: string;
  /** Started with an owner: it stops once every process in `owners/` has exited. */
  owned: boolean;
  /** When it was launched, ISO 8601. */
  startedAt: string;
}

/** Removes what only a running broker needs: the pid file and the `stopping` mark. */
export async function forget(dataDir: string): Promise<void> {
  for (const name of [PID_FILE, "stopping"]) {
    await Deno.remove(join(dataDir, name)).catch(() => {});
  }
}

/** The pid file of a data directory, if there is one. */
export async function readPidFile(dataDir: string): Promise<PidFile | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dataDir, PID_FILE))) as PidFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** The marker the helper looks for in a broker's command line: its own properties file. */
export function marker(dataDir: string): string {
  return join(dataDir, "server.properties");
}

/** Writes the pid file of a broker just launched. */
export async function writePidFile(dataDir: string, pidFile: PidFile): Promise<void> {
  await Deno.writeTextFile(join(dataDir, PID_FILE), JSON.stringify(pidFile, null, 2) + "\n");
}

/** The pids in `owners/`, sorted. */
export async function listOwners(dataDir: string): Promise<number[]> {
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

/** Marks `pid` as a user of the data directory's broker (the owners protocol). */
export async function addOwner(dataDir: string, pid: number): Promise<void> {
  await Deno.mkdir(join(dataDir, "owners"), { recursive: true });
  await Deno.writeTextFile(join(dataDir, "owners", String(pid)), "");
}

/** The client port of the data directory's `server.properties`, if it has one. */
export async function configuredPort(dataDir: string): Promise<number | undefined> {
  const text = await Deno.readTextFile(marker(dataDir)).catch(() => "");
  const match = /^listeners=PLAINTEXT:\/\/[^:]+:(\d+)/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

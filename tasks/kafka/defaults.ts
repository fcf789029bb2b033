/**
 * What the Kafka task uses when told nothing: the Kafka version, the client port, the loopback
 * address every broker listens on, and where data directories and the jar cache live.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The Kafka version used when none is given: see the README for why this one. */
export const DEFAULT_KAFKA_VERSION = "4.4.0";

/** The client port used when none is given. */
export const DEFAULT_PORT = 9092;

/** The only interface the broker listens on. */
export const BROKER_HOST = "127.0.0.1";

/** The project root: `.kafka/` data directories are relative to it. */
export const PROJECT_ROOT: string = fileURLToPath(new URL("../..", import.meta.url));

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

/**
 * Checks a Kafka release number.
 *
 * @param version E.g. `"4.4.0"`.
 * @returns Its major version, 3 or more.
 * @throws {RangeError} If it is not a 3.x or 4.x release number.
 */
export function kafkaMajor(version: string): number {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  const major = match ? Number(match[1]) : 0;
  if (major < 3) {
    throw new RangeError(
      `Cannot use Kafka version "${version}": expected a 3.x or 4.x release such as "${DEFAULT_KAFKA_VERSION}"`,
    );
  }
  return major;
}

/**
 * The jars of an Apache Kafka broker: fetched from Maven Central with `mvn` into the cache
 * (`~/.cache/upbus/kafka/<version>/jars`, beside the `pom.xml` that listed them) once, so that a
 * start needs no network.
 *
 * @module
 */
import { join } from "node:path";
import { DEFAULT_KAFKA_VERSION, defaultCacheDir, kafkaMajor } from "./defaults.ts";
import { ensureHelper } from "./helper.ts";
import { exists, publishDir, run, tail } from "./run.ts";

const LOG4J2_SLF4J_BINDING = "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3";
const RELOAD4J_SLF4J_BINDING = "org.slf4j:slf4j-reload4j:1.7.36";
const DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1";

/** Options of {@linkcode ensureKafkaJars}. */
export interface KafkaJarsOptions {
  /** Apache Kafka version, e.g. `"4.4.0"`. Default {@linkcode DEFAULT_KAFKA_VERSION}. */
  version?: string;
  /** Cache root; the jars go to `<cacheDir>/<version>/jars`. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /** Receives one line per step taken (fetching, formatting...). Default: silent. */
  log?: (line: string) => void;
}

function pom(version: string, major: number): string {
  const binding = major >= 4 ? LOG4J2_SLF4J_BINDING : RELOAD4J_SLF4J_BINDING;
  const [group, artifact, bindingVersion] = binding.split(":");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by upbus tasks/kafka/jars.ts: the jars of an Apache Kafka ${version} broker. -->
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
 * import { ensureKafkaJars } from "./jars.ts";
 * const jars = await ensureKafkaJars({ version: "4.4.0" });
 * ```
 */
export async function ensureKafkaJars(options: KafkaJarsOptions = {}): Promise<string> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const major = kafkaMajor(version);
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

/**
 * The Java helper of the Kafka task (`UpbusKafka.java` beside this file): compiled with javac
 * once per version of its source into the jar cache, then run with `java` to start a broker
 * detached, to stop it once its owners have exited, and to check or stop it by pid. Deno's
 * `Deno.kill` needs unrestricted `--allow-run`; the helper needs only `--allow-run=java`.
 *
 * Detached means a session of its own (the helper runs the broker through util-linux
 * `setsid`), so that closing the terminal that started it sends it no SIGHUP. Deno's
 * `detached` option of `Deno.Command` does not do that (in Deno 2.9 the child stays in Deno's
 * session and process group), so it is not used.
 *
 * @module
 */
import { join } from "node:path";
import { exists, publishDir, type Ran, run, tail } from "./run.ts";

/** The helper's class: `java -cp <helper dir> UpbusKafka ...`. */
export const HELPER_CLASS = "UpbusKafka";

/** The helper's source, read (and hashed) to name its cached build. */
const HELPER_SOURCE = new URL(`./${HELPER_CLASS}.java`, import.meta.url);

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Compiles the helper once per source version.
 *
 * @param cacheDir The cache root; the classes go to `<cacheDir>/helper-<hash>`.
 * @returns The class directory, for `-cp`.
 * @throws {Error} If javac fails (is `java` a JDK?).
 */
export async function ensureHelper(cacheDir: string): Promise<string> {
  const text = await Deno.readTextFile(HELPER_SOURCE);
  const dir = join(cacheDir, `helper-${(await sha256Hex(text)).slice(0, 12)}`);
  if (await exists(join(dir, `${HELPER_CLASS}.class`))) return dir;
  await Deno.mkdir(cacheDir, { recursive: true });
  const partial = await Deno.makeTempDir({ dir: cacheDir, prefix: "helper.partial-" });
  try {
    // Compile the text that was hashed, not the file, which may have changed since.
    const source = join(partial, `${HELPER_CLASS}.java`);
    await Deno.writeTextFile(source, text);
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

/**
 * Runs the helper.
 *
 * @param cacheDir The cache root of its build.
 * @param args A helper command and its arguments: `alive <pid> <marker>`...
 * @returns Its exit code and output.
 */
export async function helper(cacheDir: string, args: string[]): Promise<Ran> {
  const classes = await ensureHelper(cacheDir);
  return await run(
    "java",
    ["-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", classes, HELPER_CLASS, ...args],
    "run the Kafka broker helper",
  );
}

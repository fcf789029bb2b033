/**
 * What the Kafka task does with programs and files: runs `mvn` and `java` with their output
 * captured, and publishes a cache entry built in a temporary directory in one rename.
 *
 * @module
 */

const decoder = new TextDecoder();
/** Maven writes colour resets even in batch mode with `-Dstyle.color=never`. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** A program's exit code and its stdout and stderr, together. */
export interface Ran {
  /** The exit code. */
  code: number;
  /** Stdout, then stderr, without colour codes. */
  output: string;
}

/**
 * Runs a program to its end with stdin from /dev/null.
 *
 * @param program `mvn` or `java` (the install hint names what provides them).
 * @param args Its arguments.
 * @param action What running it is for, for the error message: "fetch Kafka 4.4.0 jars".
 * @returns Its exit code and output.
 * @throws {Error} If the program is not installed.
 */
export async function run(program: string, args: string[], action: string): Promise<Ran> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(program, { args, stdin: "null" }).output();
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

/** The last `lines` lines of a program's output or a log, for an error message. */
export function tail(text: string, lines = 30): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Whether a path exists (any other error than "not found" is thrown). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Moves a finished `partial` directory to `target`; loses gracefully to a concurrent winner. */
export async function publishDir(partial: string, target: string): Promise<void> {
  try {
    await Deno.rename(partial, target);
  } catch (error) {
    if (!(await exists(target))) throw error;
    await Deno.remove(partial, { recursive: true });
  }
}

/**
 * `.env` for every command: variables from a file in the working directory, optional and silent
 * when the file is absent, and never over a variable the real environment already sets.
 *
 * Deno's own `--env-file` warns when the file is missing, so the CLI reads it itself, with the
 * parser Deno uses for `process.loadEnvFile` (`parseEnv` of `node:util`: `KEY=value`, quotes,
 * `export`, comments, multi-line values in double quotes).
 *
 * @module
 */
import { parseEnv } from "node:util";

/** Options for {@linkcode loadEnvFile}. */
export interface LoadEnvFileOptions {
  /** The file; default `.env` (in the working directory). */
  path?: string;
  /** Reads a variable of the real environment; default `Deno.env.get`. */
  get?: (name: string) => string | undefined;
  /** Sets a variable; default `Deno.env.set`. */
  set?: (name: string, value: string) => void;
  /** Whether this process may read the file and set `name`; default asks Deno's permissions. */
  allowed?: (kind: "read" | "env", name: string) => boolean;
  /** Told when the file is readable by other users (it holds the token); default stderr. */
  warn?: (line: string) => void;
}

function granted(kind: "read" | "env", name: string): boolean {
  const descriptor: Deno.PermissionDescriptor = kind === "read"
    ? { name: "read", path: name }
    : { name: "env", variable: name };
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/**
 * Sets the variables of `.env` that the real environment leaves unset.
 *
 * Silent when the file is absent or this command may not read it (the compiled binary on a
 * Pi reads its systemd env file instead); a variable the command may not read is skipped, as
 * it would be unused. A file that users other than its owner may read (mode & 0o077) gets a
 * warning naming it and the `chmod` that fixes it: it holds `UP_API_TOKEN`.
 *
 * @param options The file, and the environment to read and write.
 * @returns The names it set, in file order.
 * @throws {Error} If the file exists but cannot be read (a directory, no access rights).
 *
 * @example
 * ```ts
 * import { loadEnvFile } from "./env_file.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "PORT=9000\nLOG_LEVEL=debug\n");
 * const env: Record<string, string> = { PORT: "8080" };
 * const set = loadEnvFile({
 *   path,
 *   get: (name) => env[name],
 *   set: (name, value) => env[name] = value,
 *   allowed: () => true,
 * });
 * if (set.join() !== "LOG_LEVEL" || env.PORT !== "8080") throw new Error("unexpected");
 * await Deno.remove(path);
 * ```
 */
export function loadEnvFile(options: LoadEnvFileOptions = {}): string[] {
  const path = options.path ?? ".env";
  const get = options.get ?? ((name: string) => Deno.env.get(name));
  const set = options.set ?? ((name: string, value: string) => Deno.env.set(name, value));
  const allowed = options.allowed ?? granted;
  if (!allowed("read", path)) return [];
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  const mode = Deno.statSync(path).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    const warn = options.warn ?? ((line: string) => console.error(line));
    warn(
      `upbus: warning: ${path} is readable by other users (mode ${
        (mode & 0o777).toString(8)
      }) and may hold UP_API_TOKEN; run: chmod 600 ${path}`,
    );
  }
  const names: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value === undefined || !allowed("env", name) || get(name) !== undefined) continue;
    set(name, value);
    names.push(name);
  }
  return names;
}

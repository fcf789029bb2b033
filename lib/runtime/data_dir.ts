/**
 * @module Data directory check
 * Whether upbus may keep its files in `DATA_DIR`, asked of the runtime before anything is opened,
 * so that a refused directory is one message naming `DATA_DIR` and what to do, not a runtime
 * permission error. Every command that keeps data runs it first.
 */

/** The directories no permission set of upbus lets it write: see `deno.json`. */
export const REFUSED_DIRECTORIES: readonly string[] = [
  "/etc",
  "/usr",
  "/bin",
  "/sbin",
  "/lib",
  "/lib64",
  "/boot",
  "/proc",
  "/sys",
];

/**
 * Checks that the process may read and write `dataDir`.
 *
 * @param dataDir The configured directory.
 * @param options `variable`: the setting to name in the message, default `DATA_DIR`.
 * @throws {Error} `Cannot use DATA_DIR "<dir>": ...` saying what is refused and what to set.
 *
 * @example
 * ```ts
 * import { assertDataDirAllowed } from "./data_dir.ts";
 * // Under `deno test` without write permission for "/etc", this throws.
 * try {
 *   assertDataDirAllowed("/etc/upbus");
 * } catch (error) {
 *   if (!(error as Error).message.startsWith('Cannot use DATA_DIR "/etc/upbus"')) throw error;
 * }
 * ```
 */
export function assertDataDirAllowed(
  dataDir: string,
  options: { variable?: string } = {},
): void {
  const variable = options.variable ?? "DATA_DIR";
  const refused = (["read", "write"] as const).filter((name) =>
    Deno.permissions.querySync({ name, path: dataDir }).state !== "granted"
  );
  if (refused.length === 0) return;
  throw new Error(
    `Cannot use ${variable} "${dataDir}": upbus may not ${
      refused.join(" or ")
    } files there (system directories such as ${
      REFUSED_DIRECTORIES.slice(0, 3).join(", ")
    } are refused); set ${variable} to a directory you own, such as ~/upbus-data or /var/lib/upbus`,
  );
}

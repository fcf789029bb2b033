/**
 * Owner-only SQLite files: the file is created with mode 0600 (its directory 0700) before SQLite
 * opens it, because SQLite gives its -wal and -shm files the database file's mode.
 *
 * @module
 */

/**
 * Creates `path` owner-only if it does not exist (and its directory, owner-only, if missing);
 * leaves an existing file's contents as they are.
 *
 * @param path The database file.
 * @throws {Deno.errors.PermissionDenied} If the directory cannot be written.
 *
 * @example
 * ```ts
 * import { createOwnerOnly } from "./owner_only.ts";
 * const dir = Deno.makeTempDirSync();
 * createOwnerOnly(`${dir}/state/x.db`);
 * if ((Deno.statSync(`${dir}/state/x.db`).mode! & 0o777) !== 0o600) throw new Error("unexpected");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function createOwnerOnly(path: string): void {
  const directory = path.replace(/[/\\][^/\\]*$/, "");
  if (directory !== path && directory !== "") {
    Deno.mkdirSync(directory, { recursive: true, mode: 0o700 });
  }
  Deno.writeFileSync(path, new Uint8Array(), { append: true, mode: 0o600 });
}

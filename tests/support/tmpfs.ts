/**
 * A small tmpfs for the tests of a full disk (the event store, the ledger): mounting one needs
 * root on Linux, so each such test asks {@linkcode canMountTmpfs} first and is ignored without it.
 *
 * Permissions: `--allow-run=mount,umount`, `--allow-read`/`--allow-write` (the temporary dir).
 *
 * @module
 */

/** Whether this process can mount a tmpfs (Linux, as root); tried once on a scratch directory. */
export async function canMountTmpfs(): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  const probe = await Deno.makeTempDir();
  try {
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
      stderr: "null",
    }).output();
    if (!mounted.success) return false;
    await new Deno.Command("umount", { args: [probe] }).output();
    return true;
  } catch {
    return false;
  } finally {
    await Deno.remove(probe, { recursive: true }).catch(() => {});
  }
}

/** Mounts a tmpfs of `size` (`64k`, `1m`, ...) on `dir`; returns whether it worked. */
export async function mountTmpfs(dir: string, size: string): Promise<boolean> {
  const { success } = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
  }).output();
  return success;
}

/** Gives the tmpfs on `dir` another size, keeping its files; returns whether it worked. */
export async function resizeTmpfs(dir: string, size: string): Promise<boolean> {
  const { success } = await new Deno.Command("mount", { args: ["-o", `remount,size=${size}`, dir] })
    .output();
  return success;
}

/** Unmounts the tmpfs on `dir`, lazily (a file still open does not keep it). */
export async function unmountTmpfs(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: ["-l", dir] }).output();
}

/**
 * @module File wake-ups
 * Hand-offs without polling: a reader of a SQLite file waits for "the file was written" instead
 * of a timer. A writer in the same process says so directly ({@linkcode announceWrite}); writes
 * by another process are seen through `Deno.watchFs` on the file's directory (the file, its
 * `-wal` and `-journal`). One watcher per file in a process, shared by its waiters and closed
 * with the last of them. A signal only wakes: the waiter reads the file to see what is new, and
 * its fallback timer covers a signal that never comes, so a missed one delays, never loses.
 */

/** Callbacks waiting on each file, by its path. */
const waiters = new Map<string, Set<() => void>>();
/** The directory watcher of each watched file, by its path. */
const watchers = new Map<string, Deno.FsWatcher>();

/** Wakes everything in this process that waits on `path` (a writer calls it after its commit). */
export function announceWrite(path: string): void {
  for (const wake of [...(waiters.get(path) ?? [])]) wake();
}

/** What {@linkcode watchWrites} returns. */
export interface WriteWatch {
  /** Stops watching: the watcher closes with its last waiter. */
  close(): void;
}

/**
 * Calls `onWrite` each time `path` is written, by this process or another. Calls may come in
 * bursts (one write is several file-system events); the caller coalesces them.
 *
 * @param path The SQLite file.
 * @param onWrite Called on each write seen.
 * @returns The watch; close it when done.
 *
 * @example
 * ```ts
 * import { announceWrite, watchWrites } from "./wake.ts";
 * let woken = 0;
 * const watch = watchWrites("/tmp/none/pipeline.db", () => woken++);
 * announceWrite("/tmp/none/pipeline.db");
 * watch.close();
 * if (woken !== 1) throw new Error("unexpected");
 * ```
 */
export function watchWrites(path: string, onWrite: () => void): WriteWatch {
  let set = waiters.get(path);
  if (set === undefined) waiters.set(path, set = new Set());
  set.add(onWrite);
  if (!watchers.has(path)) startWatcher(path);
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      const current = waiters.get(path);
      current?.delete(onWrite);
      if (current === undefined || current.size > 0) return;
      waiters.delete(path);
      const watcher = watchers.get(path);
      watchers.delete(path);
      try {
        watcher?.close();
      } catch {
        // Already closed.
      }
    },
  };
}

/** Watches the file's directory; without one (no directory yet, no permission) the timer serves. */
function startWatcher(path: string): void {
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : ".";
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(dir, { recursive: false });
  } catch {
    return;
  }
  watchers.set(path, watcher);
  const name = path.slice(slash + 1);
  const files = new Set([name, `${name}-wal`, `${name}-journal`]);
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        if (event.paths.some((p) => files.has(p.slice(p.lastIndexOf("/") + 1)))) {
          announceWrite(path);
        }
      }
    } catch {
      // Closed, or the directory went away: waiters fall back on their timers.
    }
  })();
}

/**
 * @module File wake-ups
 * Hand-offs without polling: a reader of a SQLite file waits for "the file was written" instead
 * of a timer. A writer calls {@linkcode announceWrite} after each commit: it wakes the waiters of
 * this isolate directly, and writes one byte to the file's signal file `<file>-wake` (not synced,
 * owner-only), which other processes and workers see through `Deno.watchFs` on the directory.
 * The byte is written after the commit, so a woken reader finds what was committed; SQLite's own
 * `-wal` writes are not watched (they come before the commit shows, and a lease renewal or a
 * cursor commit writes them too). One watcher per file in a process, shared by its waiters and
 * closed with the last of them. A signal only wakes: the waiter reads the file to see what is
 * new, and its fallback timer covers a signal that never comes (a writer of an older version, a
 * directory without watch support), so a missed one delays, never loses.
 */

/** Callbacks waiting on each file, by its path. */
const waiters = new Map<string, Set<() => void>>();
/** The directory watcher of each watched file, by its path. */
const watchers = new Map<string, Deno.FsWatcher>();
/** The open signal file of each file this isolate writes, by the file's path. */
const signals = new Map<string, Deno.FsFile | null>();
const BYTE = new Uint8Array([1]);

/** The signal file beside a SQLite file: what readers in other processes watch. */
export function signalFile(path: string): string {
  return `${path}-wake`;
}

/**
 * Says `path` was committed to: wakes what waits on it in this isolate, and writes the signal
 * file for other processes and workers. Never throws: a signal that cannot be written leaves the
 * readers to their fallback timers.
 *
 * @param path The SQLite file just committed to.
 */
export function announceWrite(path: string): void {
  wakeWaiters(path);
  let file = signals.get(path);
  if (file === null) return;
  try {
    if (file === undefined) {
      file = Deno.openSync(signalFile(path), { write: true, create: true, mode: 0o600 });
      signals.set(path, file);
    }
    file.seekSync(0, Deno.SeekMode.Start);
    file.writeSync(BYTE);
  } catch {
    // No write permission there, or the file went away: stop trying; readers fall back on timers.
    signals.set(path, null);
    try {
      file?.close();
    } catch {
      // Already closed.
    }
  }
}

function wakeWaiters(path: string): void {
  for (const wake of [...(waiters.get(path) ?? [])]) wake();
}

/** Closes the signal file of `path` (the writer closes its file). */
export function closeSignal(path: string): void {
  const file = signals.get(path);
  signals.delete(path);
  try {
    file?.close();
  } catch {
    // Already closed.
  }
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
  const signal = signalFile(path).slice(slash + 1);
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        if (event.paths.some((p) => p.slice(p.lastIndexOf("/") + 1) === signal)) {
          wakeWaiters(path);
        }
      }
    } catch {
      // Closed, or the directory went away: waiters fall back on their timers.
    }
  })();
}

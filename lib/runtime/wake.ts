/**
 * @module In-process wake-ups
 * Hand-offs without polling inside one process (`upbus run`, the demo): a reader of a SQLite
 * file that has read it to its end waits for "the file was committed to" instead of a timer,
 * and the writer says so after its commit ({@linkcode announceWrite}). A signal only wakes: the
 * waiter reads the file to see what is new. Writes by another process are not signalled here:
 * the waiter checks the file's change counter (SQLite's `data_version`, see `checkInterval` in
 * lib/bus/local/local_log_source.ts), and its fallback timer (the poll interval) reads anyway,
 * so a missed signal delays, never loses.
 *
 * Watching the file from other processes (`Deno.watchFs` on the data directory, on a signal
 * file written after each commit) was tried: it cut the processes' hand-offs to 10-20 ms, but a
 * `consume notify` stopped during a burst of writes exited with SIGBUS in 3 of 18 chaos runs
 * (none without the watcher); see docs/performance.md. The change counter needs no watcher.
 */

/** Callbacks waiting on each file, by its path. */
const waiters = new Map<string, Set<() => void>>();

/**
 * Wakes everything in this isolate that waits on `path`; a writer calls it after its commit.
 *
 * @param path The SQLite file just committed to.
 */
export function announceWrite(path: string): void {
  for (const wake of [...(waiters.get(path) ?? [])]) wake();
}

/** What {@linkcode watchWrites} returns. */
export interface WriteWatch {
  /** Stops waiting on the file. */
  close(): void;
}

/**
 * Calls `onWrite` each time a writer in this isolate announces a commit to `path`.
 *
 * @param path The SQLite file.
 * @param onWrite Called on each commit announced.
 * @returns The watch; close it when done.
 *
 * @example
 * ```ts
 * import { announceWrite, watchWrites } from "./wake.ts";
 * let woken = 0;
 * const watch = watchWrites("/tmp/none/pipeline.db", () => woken++);
 * announceWrite("/tmp/none/pipeline.db");
 * watch.close();
 * announceWrite("/tmp/none/pipeline.db");
 * if (woken !== 1) throw new Error("unexpected");
 * ```
 */
export function watchWrites(path: string, onWrite: () => void): WriteWatch {
  let set = waiters.get(path);
  if (set === undefined) waiters.set(path, set = new Set());
  set.add(onWrite);
  return {
    close() {
      const current = waiters.get(path);
      current?.delete(onWrite);
      if (current?.size === 0) waiters.delete(path);
    },
  };
}

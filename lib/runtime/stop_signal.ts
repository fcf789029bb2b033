/**
 * @module Stop signals
 * One Ctrl-C, one orderly stop, exit status 0. A long-running command asks for
 * {@linkcode stopRequested} as it starts; the first SIGINT or SIGTERM resolves it and the command
 * stops in order (positions committed, files closed). The listeners stay for the life of the
 * process, because one Ctrl-C often arrives twice: the terminal signals its whole foreground
 * process group, `deno task` and the command under it, and `deno task` forwards the SIGINT it got
 * to the command, a few milliseconds later. Without a listener that second SIGINT took Deno's
 * default action and ended the stop half way, with status 130. A repeat within
 * {@linkcode REPEAT_WINDOW_MS} of the first is that echo and changes nothing; a signal after that
 * is a person asking again, and ends the process at once with 128 + the signal's number.
 */

/** A repeat of the stop signal within this many ms of the first is the same request. */
export const REPEAT_WINDOW_MS = 1000;

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];
const SIGNAL_NUMBER: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

/** Options for {@linkcode listenForStop}. */
export interface StopListenerOptions {
  /** The echo window, ms. Default {@linkcode REPEAT_WINDOW_MS}. */
  repeatWindowMs?: number;
  /** The clock, ms. Default `performance.now`. */
  now?: () => number;
  /** Ends the process on a signal after the window. Default `Deno.exit`. */
  exit?: (code: number) => void;
  /** Says why the process ends at once. Default a line on stderr. */
  err?: (line: string) => void;
}

/** A stop listener: the promise of the first signal, and a way to stop listening. */
export interface StopListener {
  /** Resolves with the first signal's name (`"SIGINT"` or `"SIGTERM"`). */
  stopped: Promise<string>;
  /** Removes the listeners (for tests; the process-wide one keeps them). */
  close(): void;
}

/**
 * Listens for SIGINT and SIGTERM until closed: the first resolves `stopped`, a repeat within the
 * window is ignored, a later one ends the process at once.
 *
 * @param options The echo window, clock, exit and error line.
 * @returns The listener.
 *
 * @example
 * ```ts
 * import { listenForStop } from "./stop_signal.ts";
 * const listener = listenForStop();
 * const alive = setTimeout(() => {}, 5000); // signal listeners keep no process alive
 * Deno.kill(Deno.pid, "SIGTERM");
 * Deno.kill(Deno.pid, "SIGTERM"); // the echo: nothing more happens
 * if (await listener.stopped !== "SIGTERM") throw new Error("unexpected");
 * clearTimeout(alive);
 * listener.close();
 * ```
 */
export function listenForStop(options: StopListenerOptions = {}): StopListener {
  const window = options.repeatWindowMs ?? REPEAT_WINDOW_MS;
  const now = options.now ?? (() => performance.now());
  const exit = options.exit ?? ((code: number) => Deno.exit(code));
  const err = options.err ?? ((line: string) => console.error(line));
  const { promise, resolve } = Promise.withResolvers<string>();
  let firstAt: number | undefined;
  const handlers = SIGNALS.map((signal) => {
    const handler = () => {
      if (firstAt === undefined) {
        firstAt = now();
        resolve(signal);
        return;
      }
      if (now() - firstAt <= window) return;
      err(`upbus: ${signal} again while stopping: stopping at once, without the orderly stop`);
      exit(128 + SIGNAL_NUMBER[signal]);
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return {
    stopped: promise,
    close() {
      for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    },
  };
}

let shared: StopListener | undefined;

/**
 * The process's stop request: listens (once per process, from the first call on) for SIGINT and
 * SIGTERM and resolves with the first. Call it as the command starts, so that a signal during
 * startup also gets the orderly stop.
 *
 * @returns The first stop signal's name.
 *
 * @example
 * ```ts ignore
 * import { stopRequested } from "./stop_signal.ts";
 * const signal = await stopRequested(); // Ctrl-C
 * console.log(`shutting down (${signal})`);
 * ```
 */
export function stopRequested(): Promise<string> {
  shared ??= listenForStop();
  return shared.stopped;
}

/**
 * What a CLI command touches outside itself: environment, network, output, time and a stop
 * signal. Commands take it as an option so tests pass their own instead of mocking globals.
 *
 * @module
 */

/** The outside world of a command. */
export interface CliContext {
  /** Reads an environment variable. */
  env: (name: string) => string | undefined;
  /** Makes HTTP requests. */
  fetch: typeof fetch;
  /** Writes a line of normal output (stdout). */
  out: (line: string) => void;
  /** Writes a line of diagnostics (stderr). */
  err: (line: string) => void;
  /** Waits. */
  sleep: (ms: number) => Promise<void>;
  /** The clock, epoch milliseconds. */
  now: () => number;
  /** Resolves when a long-running command should stop (SIGINT or SIGTERM by default). */
  stopped: () => Promise<string>;
}

function waitForSignal(): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => {
      for (const [name, registered] of handlers) Deno.removeSignalListener(name, registered);
      resolve(signal);
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return promise;
}

/**
 * The real outside world, completed with any overrides.
 *
 * @param overrides Parts to replace, as tests do.
 * @returns A full context.
 *
 * @example
 * ```ts
 * import { cliContext } from "./context.ts";
 * const lines: string[] = [];
 * const context = cliContext({ out: (line) => lines.push(line) });
 * context.out("hello");
 * if (lines[0] !== "hello") throw new Error("unexpected");
 * ```
 */
export function cliContext(overrides: Partial<CliContext> = {}): CliContext {
  return {
    env: (name) => Deno.env.get(name),
    fetch: (input, init) => fetch(input, init),
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    stopped: waitForSignal,
    ...overrides,
  };
}

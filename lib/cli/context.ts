/**
 * What a CLI command touches outside itself: environment, network, output, time and a stop
 * signal. Commands take it as an option so tests pass their own instead of mocking globals.
 *
 * @module
 */
import { stopRequested } from "../runtime/stop_signal.ts";
import { type UpClient, upClientFromEnv } from "../up/client.ts";

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
  /**
   * Resolves when a long-running command should stop (SIGINT or SIGTERM by default: see
   * `stopRequested`). Call it as the command starts, so a signal during startup is caught too.
   */
  stopped: () => Promise<string>;
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
    stopped: stopRequested,
    ...overrides,
  };
}

/**
 * An `onRetry` hook for the Up API client that tells the user, on stderr, why a command waits.
 *
 * @param context Where to write.
 * @param command The command's name, for the message prefix.
 * @returns The hook.
 *
 * @example
 * ```ts
 * import { cliContext, reportRetry } from "./context.ts";
 * const lines: string[] = [];
 * const onRetry = reportRetry(cliContext({ err: (line) => lines.push(line) }), "webhooks");
 * onRetry({ delayMs: 1500, error: new Error("Cannot list webhooks: the Up API failed (HTTP 503)") });
 * if (!lines[0].endsWith("retrying in 2 s")) throw new Error(lines[0]);
 * ```
 */
export function reportRetry(
  context: CliContext,
  command: string,
): (notice: { delayMs: number; error: Error }) => void {
  return function reportRetry(notice) {
    const seconds = Math.ceil(notice.delayMs / 1000);
    const wait = seconds >= 120 ? `${Math.ceil(seconds / 60)} min` : `${seconds} s`;
    context.err(`upbus ${command}: ${notice.error.message}; retrying in ${wait}`);
  };
}

/**
 * The Up API client of a short command (`register-webhook`, `webhooks`): the token and base URL
 * from the context's environment, its fetch and clock, each retry told on stderr.
 *
 * @param context The command's outside world.
 * @param command The command's name, for the retry messages.
 * @returns The client.
 * @throws {TypeError} If `UP_API_TOKEN` is unset or `UP_API_BASE` is not an HTTP(S) URL.
 *
 * @example
 * ```ts
 * import { cliContext, commandUpClient } from "./context.ts";
 * const env: Record<string, string> = { UP_API_TOKEN: "up:yeah:example" };
 * const up = commandUpClient(cliContext({ env: (name) => env[name] }), "webhooks");
 * if (up.baseUrl !== "https://api.up.com.au/api/v1") throw new Error("unexpected");
 * ```
 */
export function commandUpClient(context: CliContext, command: string): UpClient {
  return upClientFromEnv({
    env: context.env,
    fetch: context.fetch,
    sleep: context.sleep,
    now: context.now,
    onRetry: reportRetry(context, command),
  });
}

/**
 * @module Actual bridge client
 * The Deno side of `lib/consumers/actual/bridge.mjs`: starts it under Node.js, sends one request at a time
 * as a JSON line and waits for its answer. `@actual-app/api` cannot run in Deno itself (its
 * better-sqlite3 is a legacy nan addon; Deno loads Node-API addons only), so this is the seam:
 * were that to change, an in-process implementation of {@linkcode ActualBridge} would replace it.
 */

/** A call to `@actual-app/api`, by operation name. */
export interface ActualBridge {
  /**
   * Runs one operation of the bridge.
   *
   * @param op The operation (`open`, `ensureAccount`, `upsert`, `remove`, `sync`...).
   * @param args Its arguments.
   * @returns Its result.
   * @throws {Error} With the bridge's message when the operation failed.
   */
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Closes the budget and ends the child process. */
  close(): Promise<void>;
}

/** Options for {@linkcode startActualBridge}. */
export interface ActualBridgeOptions {
  /** The Node.js binary. Default `node`. */
  node?: string;
  /** Where `npm ci` installed `@actual-app/api`. Default `./tools/actual` (`ACTUAL_API_DIR`). */
  apiDir?: string;
  /** Longest wait for one operation, in ms. Default 120 000. */
  timeoutMs?: number;
  /** Where the API's own output goes (stderr lines). Default dropped. */
  onLog?: (line: string) => void;
}

/**
 * Starts the bridge.
 *
 * @param options Node binary, API directory, timeout.
 * @returns The bridge; close it on shutdown.
 * @throws {Error} If Node.js cannot be started: the message says to install it or set ACTUAL_NODE.
 *
 * @example
 * ```ts ignore
 * import { startActualBridge } from "./bridge_client.ts";
 * const bridge = startActualBridge();
 * await bridge.call("open", { serverURL, password, syncId, dataDir: "./data/actual" });
 * await bridge.close();
 * ```
 */
export function startActualBridge(options: ActualBridgeOptions = {}): ActualBridge {
  // Read here and handed to Node as --eval: in the compiled binary the file is embedded.
  const script = Deno.readTextFileSync(new URL("./bridge.mjs", import.meta.url));
  const apiDir = options.apiDir ?? `${Deno.cwd()}/tools/actual`;
  const timeoutMs = options.timeoutMs ?? 120_000;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.node ?? "node", {
      args: ["--input-type=module", "--eval", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { ACTUAL_API_DIR: apiDir },
      clearEnv: true,
    }).spawn();
  } catch (error) {
    throw new Error(
      `Cannot start the Actual bridge: ${options.node ?? "node"} cannot be run (${
        (error as Error).name
      }); install Node.js 20 or later, or set ACTUAL_NODE to its path`,
    );
  }
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  const waiting = new Map<number, PromiseWithResolvers<unknown>>();
  let next = 1;
  let exited = false;

  async function readLines(
    stream: ReadableStream<Uint8Array>,
    onLine: (line: string) => void,
  ): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        onLine(buffer.slice(0, end));
        buffer = buffer.slice(end + 1);
      }
    }
    if (buffer) onLine(buffer);
  }

  const reading = readLines(child.stdout, (line) => {
    let answer: { id: number; result?: unknown; error?: string };
    try {
      answer = JSON.parse(line);
    } catch {
      options.onLog?.(line);
      return;
    }
    const pending = waiting.get(answer.id);
    if (!pending) return;
    waiting.delete(answer.id);
    if (answer.error !== undefined) pending.reject(new Error(answer.error));
    else pending.resolve(answer.result);
  });
  const logging = readLines(child.stderr, (line) => options.onLog?.(line));
  const status = child.status.then((result) => {
    exited = true;
    for (const pending of waiting.values()) {
      pending.reject(new Error(`Cannot reach the Actual bridge: it exited with ${result.code}`));
    }
    waiting.clear();
    return result;
  });

  return {
    async call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      if (exited) throw new Error("Cannot reach the Actual bridge: it has exited");
      const id = next++;
      const pending = Promise.withResolvers<unknown>();
      waiting.set(id, pending);
      await writer.write(encoder.encode(`${JSON.stringify({ id, op, args })}\n`));
      const timer = setTimeout(() => {
        waiting.delete(id);
        pending.reject(
          new Error(`Cannot finish Actual operation "${op}": no answer in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      try {
        return (await pending.promise) as T;
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      try {
        if (!exited) await this.call("close").catch(() => {});
        await writer.close().catch(() => {});
      } finally {
        const killer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already gone.
          }
        }, 10_000);
        await status;
        clearTimeout(killer);
        await Promise.all([reading, logging]);
      }
    },
  };
}

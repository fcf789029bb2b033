/**
 * Runs the Up simulator on a real port with `Deno.serve`, for `upbus up-sim` and for tests that
 * need a URL (the API client, `register-webhook`).
 *
 * @module
 */
import {
  createUpSimulator,
  SIM_API_PATH,
  type UpSimulator,
  type UpSimulatorOptions,
} from "./app.ts";

/** Options for {@linkcode serveUpSimulator}. */
export interface ServeUpSimulatorOptions extends UpSimulatorOptions {
  /** Port to listen on; 0 picks a free one. Default 8787. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  hostname?: string;
}

/** A simulator listening on a port. */
export interface ServedUpSimulator extends UpSimulator {
  /** The origin, for example `http://127.0.0.1:8787`. */
  origin: string;
  /** The API base to put in `UP_API_BASE`: `origin/api/v1`. */
  baseUrl: string;
  /** Stops listening and cancels pending deliveries. */
  shutdown(): Promise<void>;
}

/**
 * Starts the simulator on a port.
 *
 * @param options Port, interface and the simulator's options.
 * @returns The simulator with its URLs; call `shutdown()` when done.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 *
 * @example
 * ```ts
 * import { serveUpSimulator } from "./server.ts";
 * const sim = serveUpSimulator({ port: 0 });
 * const response = await fetch(`${sim.baseUrl}/util/ping`, {
 *   headers: { Authorization: `Bearer ${sim.token}` },
 * });
 * await response.body?.cancel();
 * await sim.shutdown();
 * ```
 */
export function serveUpSimulator(options: ServeUpSimulatorOptions = {}): ServedUpSimulator {
  const simulator = createUpSimulator(options);
  const hostname = options.hostname ?? "127.0.0.1";
  const server = Deno.serve(
    { port: options.port ?? 8787, hostname, onListen: () => {} },
    simulator.app.fetch,
  );
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const origin = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${server.addr.port}`;
  return {
    ...simulator,
    origin,
    baseUrl: origin + SIM_API_PATH,
    async shutdown() {
      await simulator.close();
      await server.shutdown();
    },
  };
}

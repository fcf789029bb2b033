/**
 * @module Actual sync server for tests
 * Starts the real `@actual-app/sync-server` (installed by `npm ci` in tools/actual) under Node.js
 * on a free loopback port with its own data directory, and sets its password.
 */

/** A running sync server. */
export interface ActualServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The server password. */
  password: string;
  /** Stops the server and removes its data. */
  close(): Promise<void>;
}

const TOOLS = new URL("../../tools/actual/", import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Starts a sync server and bootstraps its password.
 *
 * @returns The server; close it after the test.
 */
export async function startActualServer(): Promise<ActualServer> {
  const bin = `${TOOLS}node_modules/@actual-app/sync-server/build/bin/actual-server.js`;
  try {
    await Deno.stat(bin);
  } catch {
    throw new Error(
      "Cannot start the Actual sync server: tools/actual is not installed; run `npm ci --prefix tools/actual` (.ci/run does)",
    );
  }
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-actual-server-" });
  const port = freePort();
  const child = new Deno.Command("node", {
    args: [bin],
    env: {
      ACTUAL_PORT: String(port),
      ACTUAL_HOSTNAME: "127.0.0.1",
      ACTUAL_DATA_DIR: dataDir,
    },
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const password = `test-${crypto.randomUUID()}`;
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
    await Deno.remove(dataDir, { recursive: true });
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const response = await fetch(`${url}/info`);
        await response.body?.cancel();
        if (response.ok) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error("Cannot start the Actual sync server in 60 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const response = await fetch(`${url}/account/bootstrap`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password }),
    });
    const body = await response.json();
    if (body.status !== "ok") {
      throw new Error(`Cannot bootstrap the sync server: ${JSON.stringify(body)}`);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { url, password, close };
}

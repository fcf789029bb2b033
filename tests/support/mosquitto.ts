/**
 * @module Mosquitto test broker
 * A real Eclipse Mosquitto (Debian's `mosquitto` package) for the MQTT tests: started on a free
 * port of 127.0.0.1 with its own config file and persistence directory in a temp dir, so a
 * clean restart keeps retained messages and persistent sessions as a real broker does; stopped
 * cleanly (SIGTERM, which saves its database) or killed, and started again on the same port.
 *
 * Permissions: `--allow-run=mosquitto`, `--allow-net=127.0.0.1`, `--allow-read` and
 * `--allow-write` of the temp dir.
 */

/** A running (or stopped) test broker. */
export interface TestMosquitto {
  /** `mqtt://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** Its log so far (stdout and stderr). */
  log(): string;
  /** Stops it: SIGTERM (it saves retained messages and sessions) and waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, from its saved database. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function listening(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port });
      connection.close();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return false;
}

/**
 * One line of a Mosquitto 2 password file, as `mosquitto_passwd` writes it: PBKDF2-SHA512 with
 * 101 iterations and a 12-byte salt (`user:$7$101$<salt>$<hash>`, base64).
 */
async function passwordLine(user: string, password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(12));
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const hash = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-512", salt, iterations: 101 },
      key,
      512,
    ),
  );
  const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
  return `${user}:$7$101$${base64(salt)}$${base64(hash)}`;
}

/**
 * Starts Mosquitto on a free port.
 *
 * @param options `users`: user names and passwords to require (default anonymous); `tls`: the
 *   certificate and key of an `mqtts://` listener (default plain MQTT).
 * @returns The broker.
 * @throws {Error} If `mosquitto` is not installed (`apt-get install mosquitto`) or never listens.
 */
export async function startMosquitto(
  options: {
    users?: Record<string, string>;
    /** Serve `mqtts://` with this certificate and key (PEM) instead of plain MQTT. */
    tls?: { certFile: string; keyFile: string };
  } = {},
): Promise<TestMosquitto> {
  const dir = await Deno.makeTempDir({ prefix: "upbus-mosquitto-" });
  const port = freePort();
  let passwordFile: string | undefined;
  if (options.users !== undefined) {
    passwordFile = `${dir}/passwords`;
    const lines = await Promise.all(
      Object.entries(options.users).map(([user, password]) => passwordLine(user, password)),
    );
    await Deno.writeTextFile(passwordFile, lines.join("\n") + "\n", { mode: 0o600 });
  }
  const config = [
    `listener ${port} 127.0.0.1`,
    ...(options.tls ? [`certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`] : []),
    // Started as root (CI), Mosquitto would drop to its own user, which cannot write this
    // directory: stay (no effect when not started as root).
    "user root",
    passwordFile ? "allow_anonymous false" : "allow_anonymous true",
    ...(passwordFile ? [`password_file ${passwordFile}`] : []),
    "persistence true",
    `persistence_location ${dir}/`,
    "log_dest stdout",
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    "max_queued_messages 10000",
  ].join("\n") + "\n";
  await Deno.writeTextFile(`${dir}/mosquitto.conf`, config);
  let output = "";
  let child: Deno.ChildProcess | undefined;
  let reading: Promise<void> | undefined;

  async function start(): Promise<void> {
    try {
      child = new Deno.Command("mosquitto", {
        args: ["-c", `${dir}/mosquitto.conf`],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          "Cannot start the test broker: mosquitto is not installed (apt-get install mosquitto)",
        );
      }
      throw error;
    }
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) output += decoder.decode(chunk);
    };
    reading = Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {});
    if (!(await listening(port, 10_000))) {
      throw new Error(`Cannot start the test broker on port ${port}:\n${output}`);
    }
  }

  async function stop(): Promise<void> {
    if (child === undefined) return;
    const running = child;
    child = undefined;
    try {
      running.kill("SIGTERM");
    } catch { /* exited already */ }
    await running.status;
    await reading;
  }

  await start();
  return {
    url: `${options.tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
    port,
    log: () => output,
    stop,
    start,
    async close() {
      await stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * The real service in its own process, started the way `deno task start` starts it (the `serve`
 * permission set of deno.json), for end-to-end tests over real HTTP.
 *
 * @module
 */
import { TextLineStream } from "./lines.ts";
import { childEnv } from "./upbus_program.ts";

export interface ServiceProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  /** Sends SIGTERM and waits for the exit; returns the exit code. */
  stop(): Promise<number>;
}

const ROOT = new URL("../..", import.meta.url).pathname;

/**
 * A fresh data directory under `./data/`, the one place the `serve` permission set may write
 * (besides /var/lib/upbus).
 */
export async function serviceDataDir(): Promise<string> {
  const dir = `${ROOT}data/test-${crypto.randomUUID()}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export async function startServiceProcess(
  env: Record<string, string>,
  options: { permissionSet?: string } = {},
): Promise<ServiceProcess> {
  const child = new Deno.Command("deno", {
    args: ["run", `-P=${options.permissionSet ?? "serve"}`, "main.ts", "serve"],
    cwd: ROOT,
    clearEnv: true,
    env: { ...childEnv(), HOST: "127.0.0.1", PORT: "0", ...env },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: Array<Record<string, unknown>> = [];
  const { promise: listening, resolve, reject } = Promise.withResolvers<string>();
  const reading = (async () => {
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    for await (const line of lines) {
      if (!line.startsWith("{")) {
        logs.push({ msg: line });
        continue;
      }
      const entry = JSON.parse(line);
      logs.push(entry);
      if (entry.msg === "listening") resolve(String(entry.url).replace(/\/webhook$/, ""));
    }
    reject(new Error(`the service exited before listening: ${JSON.stringify(logs)}`));
  })();
  const timer = setTimeout(
    () => reject(new Error("the service did not listen within 30 s")),
    30_000,
  );
  try {
    const url = await listening;
    return {
      url,
      logs,
      async stop() {
        child.kill("SIGTERM");
        const status = await child.status;
        await reading;
        return status.code;
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await reading.catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

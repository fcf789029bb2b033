/**
 * upbus run as a user runs it, in its own process: either `deno run` with exactly the permission
 * flags the compiled binary carries (tasks/compile.ts), or the compiled binary itself. Used by
 * the permission-parity, SIGTERM and compile tests.
 *
 * Permissions: `--allow-run=deno` (or the binary's path), `--allow-env=PATH,HOME,DENO_DIR`.
 *
 * @module
 */
import { runPermissionArgs } from "../../tasks/compile.ts";
import { TextLineStream } from "./lines.ts";

/** How to start upbus: a command and the arguments that come before upbus's own. */
export interface UpbusProgram {
  command: string;
  prefix: string[];
  /** Environment the program itself needs (an emulator's settings), on top of `childEnv()`. */
  env?: Record<string, string>;
  /** Default time limit of each command, for a slow program (an emulator); else 60 s. */
  timeoutMs?: number;
  /** Where it runs: another checkout (an older version of upbus); default this project. */
  cwd?: string;
}

/** The project root, where deno.json and main.ts are. */
export const PROJECT_ROOT: string = new URL("../..", import.meta.url).pathname;

/** `deno run -P=upbus --no-prompt main.ts`: the source with the binary's permissions. */
export function sourceProgram(): UpbusProgram {
  return { command: "deno", prefix: ["run", ...runPermissionArgs(), "main.ts"] };
}

/** A compiled binary. */
export function binaryProgram(path: string): UpbusProgram {
  return { command: path, prefix: [] };
}

/**
 * The environment a child `deno` needs after `clearEnv`: PATH, HOME and DENO_DIR (its module
 * cache), and no colours in its output.
 */
export function childEnv(): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function spawn(program: UpbusProgram, args: string[], env: Record<string, string>) {
  return new Deno.Command(program.command, {
    args: [...program.prefix, ...args],
    cwd: program.cwd ?? PROJECT_ROOT,
    clearEnv: true,
    env: { ...childEnv(), ...program.env, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** What a finished command printed. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one upbus command to its end.
 *
 * @param program How to start upbus.
 * @param args The command line.
 * @param options Environment (on top of PATH, HOME, DENO_DIR) and a time limit, default the
 *   program's, else 60 s.
 */
export async function runUpbus(
  program: UpbusProgram,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CommandOutput> {
  const child = spawn(program, args, options.env ?? {});
  const timer = setTimeout(
    () => child.kill("SIGKILL"),
    options.timeoutMs ?? program.timeoutMs ?? 60_000,
  );
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A long-running upbus command (serve, up-sim). */
export interface RunningUpbus {
  /** stdout lines so far. */
  out: string[];
  /** stderr lines so far; JSON log lines are parsed into `logs` too. */
  err: string[];
  logs: Array<Record<string, unknown>>;
  /** Its process id. */
  pid: number;
  /** Sends `signal` and waits for the exit; returns the code and how long the exit took. */
  stop(signal?: Deno.Signal): Promise<{ code: number; ms: number }>;
}

/**
 * Starts a long-running command and waits until one of its lines says it is ready.
 *
 * @param program How to start upbus.
 * @param args The command line.
 * @param options Environment, the line to wait for (returns a value from it), time limit.
 * @returns The running process and the value `ready` returned.
 */
export async function startUpbus<T>(
  program: UpbusProgram,
  args: string[],
  options: {
    env?: Record<string, string>;
    ready: (line: string, log?: Record<string, unknown>) => T | undefined;
    timeoutMs?: number;
  },
): Promise<[RunningUpbus, T]> {
  const child = spawn(program, args, options.env ?? {});
  const out: string[] = [];
  const err: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const { promise: ready, resolve, reject } = Promise.withResolvers<T>();
  const look = (line: string, log?: Record<string, unknown>) => {
    const value = options.ready(line, log);
    if (value !== undefined) resolve(value);
  };
  const readOut = (async () => {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    for await (const line of lines) {
      out.push(line);
      look(line);
    }
  })();
  const readErr = (async () => {
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    for await (const line of lines) {
      err.push(line);
      let log: Record<string, unknown> | undefined;
      if (line.startsWith("{")) {
        try {
          log = JSON.parse(line);
          logs.push(log!);
        } catch { /* not a log line */ }
      }
      look(line, log);
    }
  })();
  const reading = Promise.all([readOut, readErr]);
  reading.then(() =>
    reject(new Error(`upbus ${args[0]} exited before it was ready:\n${err.join("\n")}`))
  );
  const timer = setTimeout(
    () =>
      reject(new Error(`upbus ${args[0]} was not ready within the time limit:\n${err.join("\n")}`)),
    options.timeoutMs ?? program.timeoutMs ?? 60_000,
  );
  try {
    const value = await ready;
    const running: RunningUpbus = {
      out,
      err,
      logs,
      pid: child.pid,
      async stop(signal = "SIGTERM") {
        const started = performance.now();
        try {
          child.kill(signal);
        } catch { /* exited already */ }
        const status = await child.status;
        const ms = performance.now() - started;
        await reading;
        return { code: status.code, ms };
      },
    };
    return [running, value];
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* exited already */ }
    await child.status;
    await reading;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `upbus serve` and waits until it listens.
 *
 * @returns The process and its base URL, `http://127.0.0.1:<port>`.
 */
export function startServe(
  program: UpbusProgram,
  env: Record<string, string>,
): Promise<[RunningUpbus, string]> {
  return startUpbus(program, ["serve"], {
    env: { HOST: "127.0.0.1", PORT: "0", ...env },
    ready: (_line, log) =>
      log?.msg === "listening" ? String(log.url).replace(/\/webhook$/, "") : undefined,
  });
}

/**
 * Starts `upbus up-sim` on a free port and waits until it listens.
 *
 * @returns The process and its `UP_API_BASE` and `UP_API_TOKEN`.
 */
export function startUpSim(
  program: UpbusProgram,
  token: string,
): Promise<[RunningUpbus, { UP_API_BASE: string; UP_API_TOKEN: string }]> {
  return startUpbus(program, [
    "up-sim",
    "--port",
    "0",
    "--token",
    token,
    "--seed",
    "2",
    "--retry-delays",
    "100,200,400",
    "--in-memory",
  ], {
    ready: (line) => {
      const match = line.match(/^Up simulator listening on (\S+)$/);
      return match ? { UP_API_BASE: match[1], UP_API_TOKEN: token } : undefined;
    },
  });
}

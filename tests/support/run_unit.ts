/**
 * @module The one-process unit, started as systemd would
 * Starts `upbus run` from deploy/upbus-run.service: its ExecStart command line (the binary
 * replaced by `deno run` with the binary's own permission set, deno.json's `upbus`), its
 * Environment= lines, then an EnvironmentFile= made from deploy/upbus.env.example with the
 * settings a user edits (values of the same names replaced, new ones added), in the unit's
 * WorkingDirectory=; the unit's /var/lib/upbus is a temporary directory of the test's. Used by
 * tests/service/run_unit_test.ts (this machine's deno) and tests/deploy/arm64_test.ts (the ARM64
 * deno under qemu).
 *
 * Permissions: `--allow-read` of the project, `--allow-run` of the program (deno, qemu-aarch64).
 */
import { runPermissionArgs } from "../../tasks/compile.ts";
import { PROJECT_ROOT, type RunningUpbus, startUpbus } from "./upbus_program.ts";

/** The unit's state directory, which the tests replace by their own. */
const STATE_DIR = "/var/lib/upbus";

/** Each `Key=value` line of a unit, values of repeated keys in order. */
export function unitDirectives(unit: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    const match = line.match(/^([A-Za-z]+)=(.*)$/);
    if (match) map.set(match[1], [...map.get(match[1]) ?? [], match[2]]);
  }
  return map;
}

/** An environment file's `NAME=value` lines, as systemd reads them (comments skipped). */
export function environmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = line.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (match) env[match[1]] = match[2];
  }
  return env;
}

/** A rules file with one rule: every purchase to the local ntfy. */
export function ntfyRules(targetsUrl: string): string {
  return `targets:
  phone:
    type: ntfy
    url: ${targetsUrl}/ntfy
    topic: upbus-run
    token_env: NOTIFY_NTFY_TOKEN
    initial_delay_ms: 50
rules:
  - name: every purchase
    match: { direction: out }
    notify:
      - target: phone
        message: "{{description}} {{amount}}"
`;
}

/** How to start deno: `deno` itself, or the ARM64 deno under qemu-aarch64. */
export interface DenoProgram {
  command: string;
  prefix: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The running unit and its addresses. */
export interface RunningUnit {
  process: RunningUpbus;
  /** `http://127.0.0.1:<port>/webhook`. */
  webhookUrl: string;
  /** Where `/readyz` and `/metrics` are: `http://127.0.0.1:<port>`. */
  opsUrl: string;
  /** The position dashboard, `http://127.0.0.1:<port>/`, when the position stage runs. */
  dashboardUrl?: string;
  /** The environment it was started with. */
  env: Record<string, string>;
}

/**
 * Starts deploy/upbus-run.service's ExecStart under its environment and waits until it says every
 * stage runs.
 *
 * @param options The deno to run, the state directory, the settings of the environment file.
 * @returns The running process and its addresses.
 */
export async function startRunUnit(options: {
  deno: DenoProgram;
  stateDir: string;
  settings: Record<string, string>;
}): Promise<RunningUnit> {
  const unit = unitDirectives(await Deno.readTextFile(`${PROJECT_ROOT}deploy/upbus-run.service`));
  const execStart = unit.get("ExecStart")![0].split(/\s+/);
  if (execStart[0] !== "/usr/local/bin/upbus") {
    throw new Error(`Cannot start the unit: ExecStart names ${execStart[0]}`);
  }
  const local = (value: string) => value.replaceAll(STATE_DIR, options.stateDir);
  const env: Record<string, string> = {};
  for (const assignment of unit.get("Environment") ?? []) {
    const [name, ...rest] = assignment.split("=");
    env[name] = local(rest.join("="));
  }
  const example = await Deno.readTextFile(`${PROJECT_ROOT}deploy/upbus.env.example`);
  Object.assign(env, environmentFile(example), options.settings);
  const workingDirectory = local(unit.get("WorkingDirectory")![0]);
  let opsUrl: string | undefined;
  let dashboardUrl: string | undefined;
  const [process, webhookUrl] = await startUpbus(
    {
      command: options.deno.command,
      prefix: [
        ...options.deno.prefix,
        "run",
        ...runPermissionArgs(),
        `--config=${PROJECT_ROOT}deno.json`,
        `${PROJECT_ROOT}main.ts`,
      ],
      env: options.deno.env,
      timeoutMs: options.deno.timeoutMs,
      cwd: workingDirectory,
    },
    execStart.slice(1),
    {
      env,
      ready(_line, log) {
        if (log?.msg === "listening") {
          const operations = String(log.operations);
          opsUrl = operations.startsWith("http")
            ? operations.replace(/\/metrics$/, "")
            : String(log.url).replace(/\/webhook$/, "");
        }
        if (log?.msg === "dashboard listening") dashboardUrl = String(log.url);
        return log?.msg === "every stage running" ? String(log.webhook) : undefined;
      },
    },
  );
  return { process, webhookUrl, opsUrl: opsUrl!, dashboardUrl, env };
}

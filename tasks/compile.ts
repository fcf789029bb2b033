/**
 * `deno task compile` and `deno task compile:pi`: upbus as one executable, `dist/upbus-<target>`,
 * with the `upbus` permission set of deno.json baked in and every file it needs at run time.
 *
 * The flags live here and nowhere else: the tasks run this file, and the permission-parity and
 * compile tests read {@linkcode compileArgs} and {@linkcode BINARY_PERMISSION_SET}, so the
 * binary, its tests and the tasks cannot drift apart.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The deno.json permission set the binary carries: every subcommand's set, plus /var/lib/upbus. */
export const BINARY_PERMISSION_SET = "upbus";

/**
 * Modules the binary loads that the module graph does not show, so `deno compile` would leave
 * them out: the store's writer and the relay run in Workers, and their hosts import only types.
 */
export const RUNTIME_INCLUDES: readonly string[] = [
  "lib/store/store_worker.ts",
  "lib/relay/relay_worker.ts",
  "lib/consumers/actual/bridge.mjs",
];

/**
 * V8 flags of the service, here and in `deno task start`/`dev`, for each of the three isolates
 * (HTTP thread, store writer, relay): a young generation of 1 MiB per semi-space (V8's default
 * grows to 16 MiB), and an old generation allowed to grow by half before its next full GC (V8's
 * default factor rises up to 4 when GC is quick, which under load let each old space fill with
 * dead request objects). In `deno task bench` with Kafka the peak RSS under load was about 215 MB
 * with neither, about 185 with the first alone, 137-143 with both, at no CPU cost per request
 * that stood out of the machine's noise (docs/performance.md).
 */
export const V8_FLAGS = "--max-semi-space-size=1,--heap-growing-percent=50";

/** The Raspberry Pi's target (64-bit Raspberry Pi OS: Pi 3, 4, 5, Zero 2 W). */
export const PI_TARGET = "aarch64-unknown-linux-gnu";

/** Options for {@linkcode compileArgs}. */
export interface CompileOptions {
  /** Rust target triple; default this machine's, `Deno.build.target`. */
  target?: string;
  /** Output path; default `dist/upbus-<target>`. */
  output?: string;
}

/**
 * The `deno compile` arguments for upbus, relative to the project root.
 *
 * @param options Target and output path.
 * @returns The arguments after `deno`.
 *
 * @example
 * ```ts
 * import { compileArgs } from "./compile.ts";
 * const args = compileArgs({ target: "aarch64-unknown-linux-gnu" });
 * if (!args.includes("-P=upbus")) throw new Error("the permission set is missing");
 * if (args.at(-1) !== "main.ts") throw new Error("the entry point comes last");
 * ```
 */
export function compileArgs(options: CompileOptions = {}): string[] {
  const target = options.target ?? Deno.build.target;
  return [
    "compile",
    `-P=${BINARY_PERMISSION_SET}`,
    // A missing permission fails at once instead of asking on a terminal nobody watches.
    "--no-prompt",
    "--frozen",
    `--v8-flags=${V8_FLAGS}`,
    // Only the npm packages main.ts reaches: test-only ones in deno.json stay out of the binary.
    "--exclude-unused-npm",
    ...RUNTIME_INCLUDES.flatMap((path) => ["--include", path]),
    "--target",
    target,
    "--output",
    options.output ?? `dist/upbus-${target}`,
    "main.ts",
  ];
}

/** The permission flags of `deno run` that match a compile's (what the binary is allowed). */
export function runPermissionArgs(): string[] {
  return [`-P=${BINARY_PERMISSION_SET}`, "--no-prompt"];
}

async function compile(target: string, output: string): Promise<void> {
  const root = new URL("..", import.meta.url).pathname;
  const { code } = await new Deno.Command("deno", {
    args: compileArgs({ target, output }),
    cwd: root,
    stdin: "null",
  }).spawn().status;
  if (code !== 0) {
    throw new Error(
      `Cannot compile upbus for ${target}: deno compile exited with ${code}. It downloads its runtime (denort) for the target on first use; offline, point DENORT_BIN at a denort ${Deno.version.deno} for ${target}`,
    );
  }
}

async function report(target: string, output: string): Promise<void> {
  const { size } = await Deno.stat(new URL(`../${output}`, import.meta.url));
  console.log(`\n✓ Built ${output} (${(size / 1024 / 1024).toFixed(1)} MiB) for ${target}`);
  console.log(`  Permissions: the "${BINARY_PERMISSION_SET}" set of deno.json, baked in`);
  if (target === PI_TARGET) {
    console.log("Next: copy it to the Pi, see docs/raspberry-pi.md:");
    console.log(`  scp ${output} pi@raspberrypi.local:upbus`);
  } else {
    console.log(`Next: ${output} --help`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ args: Deno.args, options: { target: { type: "string" } } });
  const target = values.target ?? Deno.build.target;
  const output = `dist/upbus-${target}`;
  try {
    await compile(target, output);
    await report(target, output);
    return 0;
  } catch (error) {
    console.error(`compile: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exitCode = await main();
}

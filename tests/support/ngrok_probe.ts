/**
 * Loads ngrok's native add-on and calls into it, without opening a tunnel (no network): prints the
 * architecture, the add-on package its loader picks (as the loader does: by platform, arch and
 * C library) and the native `listeners()` answer as one JSON line. Run by tests/deploy/arm64_test.ts with
 * the ARM64 deno.
 *
 * Permissions: `--allow-ffi`, `--allow-read` of DENO_DIR, `--allow-sys=cpus,networkInterfaces,hostname`.
 *
 * @module
 */
import process from "node:process";

const ngrok = (await import("@ngrok/ngrok")).default;
const header = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header;
const libc = header.glibcVersionRuntime ? "gnu" : "musl";
console.log(JSON.stringify({
  arch: Deno.build.arch,
  addon: `@ngrok/ngrok-${process.platform}-${process.arch}-${libc}`,
  listeners: await ngrok.listeners(),
}));

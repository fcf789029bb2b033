/**
 * @module Browser test support
 * Headless Debian Chromium driven by playwright-core. playwright's bundled `is-wsl` probes
 * `/proc/sys/fs/binfmt_misc/WSLInterop` at import, which Deno allows only with --allow-all;
 * setting `__IS_WSL_TEST__` first makes it skip that probe, so the tests keep narrow flags.
 */
import type { Browser } from "playwright-core";

/** Where Debian puts Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Launches headless Chromium.
 *
 * @returns The browser; close it in `finally`.
 */
export async function launchChromium(): Promise<Browser> {
  Deno.env.set("__IS_WSL_TEST__", "1");
  const { chromium } = await import("playwright-core");
  return await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/**
 * @module Progress bar
 * A one-line text progress bar with an ETA, for long commands on stderr.
 */

/**
 * Formats a duration as `1:02:03` or `2:03`.
 *
 * @param ms The duration.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./progress.ts";
 * if (formatDuration(3_723_000) !== "1:02:03") throw new Error("unexpected");
 * ```
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/**
 * Renders `[#########-----------]  45%  1,234 transactions  ETA 0:42`.
 *
 * @param fraction Done, 0 to 1.
 * @param options The elapsed time, the count and its unit, and the bar's width (default 24).
 * @returns The line, without a line ending.
 *
 * @example
 * ```ts
 * import { progressLine } from "./progress.ts";
 * const line = progressLine(0.5, { elapsedMs: 10_000, count: 200, unit: "transactions" });
 * if (!line.endsWith("ETA 0:10")) throw new Error(line);
 * ```
 */
export function progressLine(
  fraction: number,
  options: { elapsedMs: number; count: number; unit: string; width?: number },
): string {
  const width = options.width ?? 24;
  const done = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(done * width);
  const eta = done >= 1
    ? "done"
    : done === 0
    ? "ETA --:--"
    : `ETA ${formatDuration(options.elapsedMs * (1 - done) / done)}`;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${
    String(Math.floor(done * 100)).padStart(3)
  }%  ${options.count.toLocaleString("en-AU")} ${options.unit}  ${eta}`;
}

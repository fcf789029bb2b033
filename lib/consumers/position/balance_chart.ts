/**
 * @module Balance chart
 * An account's balance over the last days as an inline SVG line with a soft area under it: no
 * script, no text inside (labels are HTML), stretched to its box with strokes that keep their
 * width, so it reads the same on a phone and on a wide screen.
 */
import type { DayFigure } from "./position.ts";
import { formatDollars } from "../../runtime/money.ts";
import { escapeMarkup, shortDay } from "./spend_chart.ts";

/**
 * Draws a balance history as a line, oldest on the left; the vertical scale runs from a little
 * below the lowest balance to a little above the highest, so changes show.
 *
 * @param history End-of-day balances, oldest first (from `Position.balanceHistory()`).
 * @returns A `<svg>` element as text; an empty string for no history.
 *
 * @example
 * ```ts
 * import { balanceSvg } from "./balance_chart.ts";
 * const svg = balanceSvg([{ day: "2026-11-30", cents: 10_000 }, { day: "2026-12-01", cents: 7_500 }]);
 * if (!svg.includes("<polyline") || !svg.includes("$75.00")) throw new Error(svg);
 * ```
 */
export function balanceSvg(history: DayFigure[]): string {
  if (history.length === 0) return "";
  const width = 300;
  const height = 80;
  const values = history.map((point) => point.cents);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const pad = Math.max(1, (high - low) * 0.12);
  const bottom = low - pad;
  const span = high + pad - bottom;
  const step = history.length > 1 ? width / (history.length - 1) : 0;
  const points = history.map((point, i) => {
    const x = history.length > 1 ? i * step : width / 2;
    const y = height - (point.cents - bottom) / span * height;
    return [x.toFixed(2), y.toFixed(2)];
  });
  const line = points.map(([x, y]) => `${x},${y}`).join(" ");
  const area = `0,${height} ${line} ${width},${height}`;
  const last = history.at(-1)!;
  const label = `Balance over the last ${history.length} days, ${formatDollars(last.cents)} on ${
    shortDay(last.day)
  }`;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart balance-chart" role="img" ` +
    `aria-label="${escapeMarkup(label)}" viewBox="0 0 ${width} ${height}" ` +
    `preserveAspectRatio="none">` +
    `<polygon class="area" points="${area}"/>` +
    `<polyline class="line" points="${line}" fill="none" vector-effect="non-scaling-stroke"/>` +
    `</svg>`;
}

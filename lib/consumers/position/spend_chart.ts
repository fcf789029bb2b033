/**
 * @module Spend chart
 * Spend per day as an inline SVG bar chart: plain markup, no script, no external asset. The SVG
 * stretches to its box (`preserveAspectRatio="none"`) and holds no text, so it stays sharp and
 * legible at any width; the labels around it are HTML.
 */
import { formatDollars } from "../../runtime/money.ts";
import type { DayFigure } from "./position.ts";

/**
 * Escapes text for HTML and XML.
 *
 * @param text Any text.
 * @returns The text with `&<>"'` as character references.
 *
 * @example
 * ```ts
 * import { escapeMarkup } from "./spend_chart.ts";
 * if (escapeMarkup("a<b") !== "a&#60;b") throw new Error("unexpected");
 * ```
 */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A day such as `2026-12-01` as `1 Dec`.
 *
 * @param day `YYYY-MM-DD`.
 * @returns The short date.
 *
 * @example
 * ```ts
 * import { shortDay } from "./spend_chart.ts";
 * if (shortDay("2026-12-01") !== "1 Dec") throw new Error(shortDay("2026-12-01"));
 * ```
 */
export function shortDay(day: string): string {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date)).toLocaleDateString("en-AU", {
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });
}

/**
 * Draws spend per day as vertical bars, one per day, oldest on the left; each bar carries its
 * day and amount as a tooltip (`<title>`) and in `data-day` / `data-cents`.
 *
 * @param days Positive cents per day, oldest first (from `Position.dailySpend()`).
 * @returns A `<svg>` element as text.
 *
 * @example
 * ```ts
 * import { dailySpendSvg } from "./spend_chart.ts";
 * const svg = dailySpendSvg([{ day: "2026-12-01", cents: 1250 }, { day: "2026-12-02", cents: 0 }]);
 * if (!svg.startsWith("<svg") || !svg.includes('data-day="2026-12-01"')) throw new Error(svg);
 * ```
 */
export function dailySpendSvg(days: DayFigure[]): string {
  const width = 300;
  const height = 100;
  const slot = width / Math.max(1, days.length);
  const gap = Math.min(2, slot * 0.25);
  const max = Math.max(1, ...days.map((day) => day.cents));
  const bars = days.map(({ day, cents }, i) => {
    const barHeight = cents === 0 ? 0 : Math.max(1.5, (height - 2) * cents / max);
    const x = (i * slot + gap / 2).toFixed(2);
    const y = (height - barHeight).toFixed(2);
    const today = i === days.length - 1 ? " today" : "";
    return `<rect class="bar${today}" data-day="${day}" data-cents="${cents}" x="${x}" y="${y}" ` +
      `width="${(slot - gap).toFixed(2)}" height="${barHeight.toFixed(2)}" rx="1">` +
      `<title>${escapeMarkup(`${shortDay(day)}: ${formatDollars(cents)}`)}</title></rect>`;
  });
  // The hit areas make an empty day hoverable too.
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart spend-chart" role="img" ` +
    `aria-label="Spend per day, last ${days.length} days" viewBox="0 0 ${width} ${height}" ` +
    `preserveAspectRatio="none">` +
    `<line class="baseline" x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}" ` +
    `vector-effect="non-scaling-stroke"/>` + bars.join("") + `</svg>`;
}

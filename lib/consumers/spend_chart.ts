/**
 * @module Spend chart
 * Spend by category as an inline SVG bar chart: plain markup, no script, no external asset.
 */
import type { SpendByCategory } from "./position.ts";

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Formats cents as dollars: `1250` → `$12.50`, `-1250` → `-$12.50`.
 *
 * @param cents The amount.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { dollars } from "./spend_chart.ts";
 * if (dollars(-123456) !== "-$1,234.56") throw new Error(dollars(-123456));
 * ```
 */
export function dollars(cents: number): string {
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100).toLocaleString("en-AU");
  return `${cents < 0 ? "-" : ""}$${whole}.${String(abs % 100).padStart(2, "0")}`;
}

/**
 * Draws spend by category as horizontal bars, largest first.
 *
 * @param spend Positive cents by category id.
 * @param options The chart's title and width in pixels (default 480).
 * @returns An `<svg>` element as text.
 *
 * @example
 * ```ts
 * import { spendChartSvg } from "./spend_chart.ts";
 * const svg = spendChartSvg({ groceries: 3000, takeaway: 1250 }, { title: "This month" });
 * if (!svg.includes("groceries") || !svg.startsWith("<svg")) throw new Error(svg);
 * ```
 */
export function spendChartSvg(
  spend: SpendByCategory,
  options: { title: string; width?: number },
): string {
  const width = options.width ?? 480;
  const entries = Object.entries(spend).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const rowHeight = 26;
  const top = 28;
  const labelWidth = 170;
  const valueWidth = 90;
  const barSpace = width - labelWidth - valueWidth;
  const height = top + Math.max(1, entries.length) * rowHeight + 6;
  const max = Math.max(1, ...entries.map(([, cents]) => cents));
  const rows = entries.map(([category, cents], i) => {
    const y = top + i * rowHeight;
    const barWidth = Math.max(2, Math.round(barSpace * cents / max));
    return `<g class="bar" data-category="${escapeXml(category)}">` +
      `<text x="0" y="${y + 16}" font-size="13">${escapeXml(category)}</text>` +
      `<rect x="${labelWidth}" y="${
        y + 4
      }" width="${barWidth}" height="16" rx="3" fill="#ff7a64"/>` +
      `<text x="${labelWidth + barWidth + 6}" y="${y + 16}" font-size="13">${
        dollars(cents)
      }</text>` +
      `</g>`;
  });
  const empty = entries.length === 0
    ? `<text x="0" y="${top + 16}" font-size="13" fill="#777">No spend yet</text>`
    : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" style="max-width:${width}px" ` +
    `viewBox="0 0 ${width} ${height}" aria-label="${escapeXml(options.title)}">` +
    `<text x="0" y="16" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>` +
    rows.join("") + empty + `</svg>`;
}

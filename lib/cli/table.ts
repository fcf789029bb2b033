/**
 * Plain-text tables for CLI output: left-aligned columns, two spaces apart, long cells cut.
 *
 * @module
 */

/**
 * Formats rows as a table with a header line.
 *
 * @param headers The column titles.
 * @param rows The cells, one array per row; each cell is cut to 60 characters.
 * @returns The lines of the table, without trailing spaces.
 *
 * @example
 * ```ts
 * import { formatTable } from "./table.ts";
 * const lines = formatTable(["ID", "URL"], [["1", "https://example.com"]]);
 * if (lines[1] !== "1   https://example.com") throw new Error(JSON.stringify(lines));
 * ```
 */
export function formatTable(headers: readonly string[], rows: readonly string[][]): string[] {
  const cut = (cell: string) => {
    const flat = cell.replace(/\s+/g, " ");
    return flat.length > 60 ? `${flat.slice(0, 59)}…` : flat;
  };
  const cells = [headers.map(cut), ...rows.map((row) => row.map(cut))];
  const widths = headers.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? "").length))
  );
  return cells.map((row) =>
    row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd()
  );
}

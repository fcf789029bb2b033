import assert from "node:assert/strict";
import { formatDecimal, formatDollars } from "../../lib/runtime/money.ts";

Deno.test("formatDollars() writes cents as people read them: $, thousands, two decimals", () => {
  const cases: Array<[number, string]> = [
    [0, "$0.00"],
    [-0, "$0.00"],
    [5, "$0.05"],
    [-5, "-$0.05"],
    [100, "$1.00"],
    [1250, "$12.50"],
    [-1250, "-$12.50"],
    [99_999, "$999.99"],
    [100_000, "$1,000.00"],
    [-123_456, "-$1,234.56"],
    [123_456_789_01, "$123,456,789.01"],
  ];
  for (const [cents, text] of cases) assert.equal(formatDollars(cents), text, String(cents));
});

Deno.test("formatDecimal() writes cents for a journal: no symbol, no separators", () => {
  const cases: Array<[number, string]> = [
    [0, "0.00"],
    [-0, "0.00"],
    [7, "0.07"],
    [-1250, "-12.50"],
    [123_456, "1234.56"],
    [-123_456_789, "-1234567.89"],
  ];
  for (const [cents, text] of cases) assert.equal(formatDecimal(cents), text, String(cents));
});

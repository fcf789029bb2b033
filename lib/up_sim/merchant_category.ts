/**
 * The category Up would give a simulated purchase, from its description: "Opal Travel" is
 * public transport, "Harris Farm Markets" groceries. Up's own category ids (as `GET /categories`
 * lists them), chosen by words a merchant's name carries.
 *
 * @module
 */
import { SIM_CATEGORIES } from "./bank.ts";

/** Words of a description, each with the child category it points to; the first match wins. */
const RULES: ReadonlyArray<[RegExp, string]> = [
  [/\b(opal|transportfornsw|myki|go ?card|metro|train|ferry|bus)\b/i, "public-transport"],
  [
    /\b(harris farm|woolworths|coles|aldi|iga|supermarket|grocer(y|ies)?|markets?)\b/i,
    "groceries",
  ],
  [/\b(ampol|bp|shell|caltex|7-eleven|petrol|fuel)\b/i, "fuel"],
  [/\b(menulog|uber ?eats|doordash|deliveroo|mcdonald'?s|kfc|domino'?s|pizza)\b/i, "takeaway"],
  [/\b(hotel|pub|bar|tavern|brewery|brewing)\b/i, "pubs-and-bars"],
  [/\b(jb hi-?fi|apple|officeworks|harvey norman)\b/i, "technology"],
  [/\b(origin energy|agl|energyaustralia|sydney water|electricity|gas)\b/i, "utilities"],
  [/\b(rent|mortgage)\b/i, "rent-and-mortgage"],
  [
    /\b(coffee|caf[eé]|bakery|espresso|restaurant|sushi|bistro|kitchen)\b/i,
    "restaurants-and-cafes",
  ],
];

/**
 * The child category that fits a purchase's description, or `null` when no word points to one
 * (Up leaves such a purchase uncategorised).
 *
 * @param description The merchant or description, as Up shows it.
 * @returns A child category id of the simulator's (Up's ids), or `null`.
 *
 * @example
 * ```ts
 * import { categoryForDescription } from "./merchant_category.ts";
 * if (categoryForDescription("Opal Travel") !== "public-transport") throw new Error("unexpected");
 * if (categoryForDescription("Harris Farm Markets") !== "groceries") throw new Error("unexpected");
 * ```
 */
export function categoryForDescription(description: string): string | null {
  for (const [words, category] of RULES) {
    if (words.test(description) && SIM_CATEGORIES[category] !== undefined) return category;
  }
  return null;
}

/**
 * @module Up to Actual mapping
 * How one Up transaction becomes one Actual Budget transaction: `imported_id` is Up's id (so
 * nothing is imported twice), the amount in cents, the date in the local time zone, `cleared` once
 * Up settled it, the payee from the description, the category by name. A transfer between the
 * customer's own accounts is recorded once, from the side money leaves, as an Actual transfer
 * (Actual writes the other side itself).
 */
import type { TransactionResource } from "../../up/types.ts";
import { dayInZone, DEFAULT_TIME_ZONE } from "../../runtime/dates.ts";

/** An Actual transaction as `addTransactions` takes it. */
export interface ActualTransaction {
  /** Up's transaction id. */
  imported_id: string;
  /** `YYYY-MM-DD`. */
  date: string;
  /** Cents, negative for money out. */
  amount: number;
  /** The payee, from Up's description. */
  payee_name: string;
  /** Up's raw text and message, when any. */
  notes?: string;
  /** Whether Up settled it. */
  cleared: boolean;
  /** The Actual category id, when one matches by name. */
  category?: string;
}

/** What to do in Actual for one record. */
export type ActualChange =
  | { kind: "upsert"; upAccountId: string; transaction: ActualTransaction; transferTo?: string }
  | { kind: "remove"; importedId: string }
  | { kind: "skip"; reason: string };

/**
 * A category name as a slug, the shape of Up's category ids: `Pubs & Bars` → `pubs-and-bars`.
 *
 * @param name A category name.
 * @returns Its slug.
 *
 * @example
 * ```ts
 * import { categorySlug } from "./mapping.ts";
 * if (categorySlug("Pubs & Bars") !== "pubs-and-bars") throw new Error("unexpected");
 * ```
 */
export function categorySlug(name: string): string {
  return name.toLowerCase().replaceAll("&", " and ").replace(/[^a-z0-9]+/g, "-").replace(
    /^-|-$/g,
    "",
  );
}

/**
 * The change one record of `up.transactions` asks for.
 *
 * @param id The transaction id (the record's key).
 * @param transaction Its state, or `null` when Up deleted it.
 * @param options Actual category ids by slug, and the time zone of dates.
 * @returns The change.
 *
 * @example
 * ```ts
 * import { actualChange } from "./mapping.ts";
 * if (actualChange("tx-1", null, { categories: new Map() }).kind !== "remove") throw new Error();
 * ```
 */
export function actualChange(
  id: string,
  transaction: TransactionResource | null,
  options: { categories: Map<string, string>; timeZone?: string },
): ActualChange {
  if (transaction === null) return { kind: "remove", importedId: id };
  const { attributes, relationships } = transaction;
  const cents = attributes.amount.valueInBaseUnits;
  const transferTo = relationships.transferAccount.data?.id;
  if (transferTo !== undefined && cents > 0) {
    return { kind: "skip", reason: "the receiving side of a transfer: Actual writes it" };
  }
  const date = dayInZone(attributes.createdAt, options.timeZone ?? DEFAULT_TIME_ZONE);
  const notes = [attributes.rawText, attributes.message].filter(Boolean).join(" | ");
  const categoryId = relationships.category.data?.id;
  const result: ActualTransaction = {
    imported_id: id,
    date,
    amount: cents,
    payee_name: attributes.description,
    cleared: attributes.status === "SETTLED",
  };
  if (notes) result.notes = notes;
  const category = categoryId === undefined ? undefined : options.categories.get(categoryId);
  if (category) result.category = category;
  return {
    kind: "upsert",
    upAccountId: relationships.account.data.id,
    transaction: result,
    ...(transferTo ? { transferTo } : {}),
  };
}

/**
 * Reads `ACTUAL_ACCOUNTS`: which Actual account each Up account goes to, as
 * `Up name or id=Actual name` pairs separated by commas.
 *
 * @param text The setting, or `undefined`.
 * @returns Actual account names by Up account name or id.
 * @throws {TypeError} If a pair has no `=` or an empty side: the message shows a valid value.
 *
 * @example
 * ```ts
 * import { parseAccountMap } from "./mapping.ts";
 * const map = parseAccountMap("Spending=Everyday, Saver=Savings");
 * if (map.get("Spending") !== "Everyday" || map.get("Saver") !== "Savings") throw new Error();
 * ```
 */
export function parseAccountMap(text: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const pair of (text ?? "").split(",").map((part) => part.trim()).filter(Boolean)) {
    const [up, actual, ...rest] = pair.split("=").map((side) => side.trim());
    if (!up || !actual || rest.length > 0) {
      throw new TypeError(
        `Cannot read ACTUAL_ACCOUNTS: "${pair}" is not "Up account=Actual account", e.g. ACTUAL_ACCOUNTS="Spending=Everyday,Saver=Savings"`,
      );
    }
    map.set(up, actual);
  }
  return map;
}

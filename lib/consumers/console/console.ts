/**
 * @module Console consumer
 * The built-in `console` consumer: one readable line per transaction as it happens.
 */
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { Consumer, ConsumerMessage } from "../../bus/consumer.ts";
import { readableCategory } from "../position/dashboard_snapshot.ts";
import { DEFAULT_TIME_ZONE, localDateTime } from "../../runtime/dates.ts";
import { formatDollars } from "../../runtime/money.ts";

/** Options for {@linkcode createConsoleConsumer}. */
export interface ConsoleConsumerOptions {
  /** Where lines go. Default `console.log`. */
  out?: (line: string) => void;
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /** The time zone of the times shown. Default `Australia/Sydney`. */
  timeZone?: string;
  /** Up's category names by id (`GET /categories`), as the dashboard shows them. Default
   * none: the id made readable (`Public transport`). */
  categoryNames?: ReadonlyMap<string, string>;
}

/** Options of {@linkcode consoleLine}. */
export interface ConsoleLineOptions {
  /** Up's category names by id. Default none: the id made readable. */
  categoryNames?: ReadonlyMap<string, string>;
}

/**
 * The line of one record: `2024-08-05 12:20  HELD     -$4.50  Campos Coffee  [Restaurants & Cafes]`.
 *
 * @param message A record of `up.transactions`.
 * @param timeZone The time zone of the time shown. Default `Australia/Sydney`.
 * @param options Up's category names.
 * @returns The line.
 *
 * @example
 * ```ts
 * import { consoleLine } from "./console.ts";
 * const line = consoleLine({ topic: "t", partition: 0, offset: "0", key: "tx-1", value: null, headers: {}, timestamp: "0" });
 * if (line !== "deleted            tx-1") throw new Error(line);
 * ```
 */
export function consoleLine(
  message: ConsumerMessage,
  timeZone = DEFAULT_TIME_ZONE,
  options: ConsoleLineOptions = {},
): string {
  const { id, transaction } = readTransactionRecord(message.key, message.value);
  if (transaction === null) return `deleted            ${id}`;
  const { attributes, relationships } = transaction;
  const local = localDateTime(attributes.createdAt, timeZone);
  const when = `${local.day} ${local.time}`;
  const categoryId = relationships.category?.data?.id;
  const category = categoryId
    ? options.categoryNames?.get(categoryId) ?? readableCategory(categoryId)
    : undefined;
  return `${when}  ${attributes.status.padEnd(7)}  ${
    formatDollars(attributes.amount.valueInBaseUnits).padStart(10)
  }  ${attributes.description}${category ? `  [${category}]` : ""}`;
}

/**
 * Creates the `console` consumer. It prints a transaction once per change of state: the
 * record of a TRANSACTION_SETTLED event whose CREATED record already held the settled state
 * (the enricher reads the state when it gets there) is not printed twice.
 *
 * @param options Where lines go, topic, time zone and category names.
 * @returns The consumer.
 *
 * @example
 * ```ts
 * import { createConsoleConsumer } from "./console.ts";
 * if (createConsoleConsumer().name !== "console") throw new Error("unexpected");
 * ```
 */
export function createConsoleConsumer(options: ConsoleConsumerOptions = {}): Consumer {
  const out = options.out ?? ((line: string) => console.log(line));
  /** The last line printed per transaction id, oldest first (bounded). */
  const printed = new Map<string, string>();
  return {
    name: "console",
    topic: options.topic ?? "up.transactions",
    fromBeginning: false,
    handle(message) {
      const line = consoleLine(message, options.timeZone, {
        categoryNames: options.categoryNames,
      });
      const key = message.key ?? "";
      if (printed.get(key) === line) return;
      printed.delete(key);
      printed.set(key, line);
      if (printed.size > 10_000) printed.delete(printed.keys().next().value!);
      out(line);
    },
  };
}

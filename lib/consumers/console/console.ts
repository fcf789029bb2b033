/**
 * @module Console consumer
 * The built-in `console` consumer: one readable line per transaction as it happens.
 */
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { Consumer, ConsumerMessage } from "../../bus/consumer.ts";
import { dollars } from "../position/spend_chart.ts";

/** Options for {@linkcode createConsoleConsumer}. */
export interface ConsoleConsumerOptions {
  /** Where lines go. Default `console.log`. */
  out?: (line: string) => void;
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /** The time zone of the times shown. Default `Australia/Sydney`. */
  timeZone?: string;
}

/**
 * The line of one record: `2024-08-05 12:20  HELD     -$4.50  Campos Coffee  [restaurants-and-cafes]`.
 *
 * @param message A record of `up.transactions`.
 * @param timeZone The time zone of the time shown. Default `Australia/Sydney`.
 * @returns The line.
 *
 * @example
 * ```ts
 * import { consoleLine } from "./console.ts";
 * const line = consoleLine({ topic: "t", partition: 0, offset: "0", key: "tx-1", value: null, headers: {}, timestamp: "0" });
 * if (line !== "deleted            tx-1") throw new Error(line);
 * ```
 */
export function consoleLine(message: ConsumerMessage, timeZone = "Australia/Sydney"): string {
  const { id, transaction } = readTransactionRecord(message.key, message.value);
  if (transaction === null) return `deleted            ${id}`;
  const { attributes, relationships } = transaction;
  const when = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(Date.parse(attributes.createdAt)).replace(",", "");
  const category = relationships.category?.data?.id;
  return `${when}  ${attributes.status.padEnd(7)}  ${
    dollars(attributes.amount.valueInBaseUnits).padStart(10)
  }  ${attributes.description}${category ? `  [${category}]` : ""}`;
}

/**
 * Creates the `console` consumer.
 *
 * @param options Where lines go, topic and time zone.
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
  return {
    name: "console",
    topic: options.topic ?? "up.transactions",
    fromBeginning: false,
    handle(message) {
      out(consoleLine(message, options.timeZone));
    },
  };
}

/**
 * @module Actual consumer
 * The built-in `actual` consumer: keeps an Actual Budget file in step with `up.transactions`,
 * history included (a new group reads the topic from the beginning). Each Up account maps to the
 * Actual account of the same name, created on first use; each record is applied through the
 * {@linkcode ActualBridge} and synced to the server before its offset is committed. Applying a
 * record twice changes nothing (transactions are found by `imported_id`).
 */
import { type ActualChange, actualChange, categorySlug } from "./mapping.ts";
import type { ActualBridge } from "./bridge_client.ts";
import { readTransactionRecord } from "../../bus/transaction_record.ts";
import type { Logger } from "../../runtime/log.ts";
import type { Consumer } from "../../bus/consumer.ts";

/** Options for {@linkcode createActualConsumer}. */
export interface ActualConsumerOptions {
  /** The bridge, with the budget open. */
  bridge: ActualBridge;
  /** The enriched topic. Default `up.transactions`. */
  topic?: string;
  /** Up account display names by id: the Actual accounts' names. */
  accountNames?: Record<string, string>;
  /** The time zone of dates. Default `Australia/Sydney`. */
  timeZone?: string;
  /** Where it logs. */
  logger: Logger;
}

/** The running `actual` consumer. */
export interface ActualConsumer extends Consumer {
  /** Counts since start. */
  stats(): { added: number; updated: number; removed: number; skipped: number };
  /** Closes the bridge. */
  close(): Promise<void>;
}

/**
 * Creates the `actual` consumer. Reads Actual's categories once.
 *
 * @param options The bridge, topic, account names, time zone and logger.
 * @returns The consumer.
 * @throws {Error} If the categories cannot be read.
 */
export async function createActualConsumer(
  options: ActualConsumerOptions,
): Promise<ActualConsumer> {
  const { bridge, logger } = options;
  const categories = new Map<string, string>();
  for (const category of await bridge.call<Array<{ id: string; name: string }>>("categories")) {
    categories.set(categorySlug(category.name), category.id);
  }
  const accounts = new Map<string, string>();
  const stats = { added: 0, updated: 0, removed: 0, skipped: 0 };

  async function actualAccount(upAccountId: string): Promise<string> {
    const known = accounts.get(upAccountId);
    if (known) return known;
    const name = options.accountNames?.[upAccountId] ?? `Up ${upAccountId.slice(0, 8)}`;
    const { id, created } = await bridge.call<{ id: string; created: boolean }>(
      "ensureAccount",
      { name },
    );
    if (created) logger.info("created Actual account", { name });
    accounts.set(upAccountId, id);
    return id;
  }

  async function apply(change: ActualChange): Promise<void> {
    if (change.kind === "skip") {
      stats.skipped++;
      return;
    }
    if (change.kind === "remove") {
      const { removed } = await bridge.call<{ removed: number }>("remove", {
        importedId: change.importedId,
      });
      stats.removed += removed;
      return;
    }
    const accountId = await actualAccount(change.upAccountId);
    const transferTo = change.transferTo ? await actualAccount(change.transferTo) : undefined;
    const { action } = await bridge.call<{ action: "added" | "updated" }>("upsert", {
      accountId,
      transaction: change.transaction,
      transferTo,
    });
    stats[action]++;
  }

  return {
    name: "actual",
    topic: options.topic ?? "up.transactions",
    fromBeginning: true,
    stats: () => ({ ...stats }),
    async handle(message) {
      const { id, transaction } = readTransactionRecord(message.key, message.value);
      await apply(actualChange(id, transaction, { categories, timeZone: options.timeZone }));
      await bridge.call("sync");
    },
    close: () => bridge.close(),
  };
}

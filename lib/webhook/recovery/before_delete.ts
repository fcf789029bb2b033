/**
 * @module Recovery before a delete
 * A webhook's delivery logs go with it when it is deleted, so `register-webhook --replace` and
 * `webhooks delete` first run a recovery pass over the webhooks they are about to delete: the
 * deliveries Up kept failing to an old tunnel URL reach the store (marked recovered) before the
 * logs that hold them are gone. A service already running relays them from there.
 */
import { createLogger } from "../../runtime/log.ts";
import { describeMigration, openEventStore } from "../../store/event_store.ts";
import type { UpClient } from "../../up/client.ts";
import { runRecoveryPass } from "./recovery_pass.ts";
import { recoveryStore } from "./recovery_store.ts";

/**
 * Recovers what the webhooks' logs hold that the store lacks.
 *
 * @param up The Up API client.
 * @param options The data directory, the webhooks and where to say what happened.
 * @returns How many events were recovered.
 * @throws {UpApiError} If the logs cannot be read: the caller must not delete the webhooks.
 */
export async function recoverBeforeDelete(
  up: UpClient,
  options: { dataDir: string; webhookIds: readonly string[]; out: (line: string) => void },
): Promise<number> {
  if (options.webhookIds.length === 0) return 0;
  const dataDir = options.dataDir.replace(/\/+$/, "");
  const events = await openEventStore({
    path: `${dataDir}/events.db`,
    onMigrated: (report) => options.out(describeMigration(`${dataDir}/events.db`, report)),
  });
  const store = recoveryStore(events);
  try {
    const report = await runRecoveryPass({
      up,
      store,
      dataDir,
      onlyWebhookIds: options.webhookIds,
      // The whole log: it is about to go.
      since: new Date(0),
      logger: createLogger({ level: "warn", write: () => {} }),
    });
    for (const plan of report.webhooks) {
      if (plan.gone) continue;
      options.out(
        `✓ Read the delivery logs of webhook ${plan.webhookId} before deleting it: ${plan.entries} entries, ${plan.missing.length} events upbus lacked, now in ${dataDir}/events.db (marked recovered)`,
      );
    }
    return report.recovered;
  } finally {
    store.close();
    await events.close();
  }
}

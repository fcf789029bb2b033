/**
 * `upbus recover [--since DATE] [--until DATE] [--dry-run]`: one recovery pass on demand (for
 * cron or a person): Up's delivery logs of every webhook in `DATA_DIR/webhooks.json` (and
 * `RECOVERY_WEBHOOK_IDS`), the missing events committed marked recovered, then each account's
 * transactions reconciled. It prints the plan per webhook and per account first; `--dry-run`
 * stops there, changing nothing.
 *
 * @module
 */
import { DEFAULT_TIME_ZONE } from "../runtime/dates.ts";
import { dateFlag, parseFlags } from "./args.ts";
import { type Command, UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";
import { progressLine } from "./progress.ts";
import { loadConfig } from "../service/config.ts";
import { createLogger } from "../runtime/log.ts";
import { describeMigration, openEventStore } from "../store/event_store.ts";
import { createUpClient } from "../up/client.ts";
import { createRequestBudget } from "../up/request_budget.ts";
import { runRecoveryPass } from "../webhook/recovery/recovery_pass.ts";
import { recoveryStore } from "../webhook/recovery/recovery_store.ts";
import { openReconcileSink } from "../webhook/recovery/reconcile_sink.ts";
import { RECOVERY_REQUESTS_PER_HOUR } from "../service/recovery.ts";

const USAGE = `Usage: upbus recover [--since DATE] [--until DATE] [--dry-run]

Reads Up's delivery logs of every webhook in DATA_DIR/webhooks.json (and RECOVERY_WEBHOOK_IDS)
and commits each event Up could not deliver to the store, marked recovered, in the order Up
created them; then pages each account's transactions and publishes, marked reconciled, each
one no stored event accounts for (its logs purged). The service does the same at start and
every RECOVERY_INTERVAL_SECONDS when UP_API_TOKEN is set; this runs one pass now.

Options:
  --since DATE   read from this instant (2026-12-01: the start of that day in TZ, default
                 Australia/Sydney; or a date-time with its offset); default the last complete
                 pass less RECOVERY_MARGIN_SECONDS
  --until DATE   read up to this instant (the pass then leaves the state file as it was)
  --dry-run      print the plan (log entries, events missing, per webhook and per account)
                 and change nothing

Needs UP_API_TOKEN (UP_API_BASE for the simulator). Without KAFKA_BROKERS reconciled
transactions go to the local log DATA_DIR/pipeline.db.`;

/**
 * Creates the `recover` command.
 *
 * @param overrides Parts of the outside world to replace.
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createRecoverCommand } from "./recover.ts";
 * if (createRecoverCommand().name !== "recover") throw new Error("unexpected");
 * ```
 */
export function createRecoverCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "recover",
    summary: "recover what Up could not deliver, from its delivery logs and transactions",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const { values } = parseFlags(args, {
        since: { type: "string" },
        until: { type: "string" },
        "dry-run": { type: "boolean" },
      });
      const zone = context.env("TZ")?.trim() || DEFAULT_TIME_ZONE;
      const since = dateFlag(values.since, "since", zone);
      const until = dateFlag(values.until, "until", zone);
      if (since && until && since >= until) {
        throw new UsageError(`--since (${values.since}) must be before --until (${values.until})`);
      }
      const dryRun = values["dry-run"] ?? false;
      const config = loadConfig((name) => context.env(name));
      const token = context.env("UP_API_TOKEN")?.trim();
      if (!token) {
        context.err(
          "upbus recover: Cannot read Up's delivery logs: UP_API_TOKEN is not set, expected a personal access token from https://api.up.com.au/getting_started",
        );
        return 1;
      }
      const logger = createLogger({ level: config.logLevel, format: config.logFormat });
      let requests = 0;
      const budget = createRequestBudget({ perHour: RECOVERY_REQUESTS_PER_HOUR });
      const up = createUpClient({
        token,
        baseUrl: context.env("UP_API_BASE")?.trim() || undefined,
        fetch: budget.wrap((input, init) => {
          requests++;
          return context.fetch(input, init);
        }),
      });
      await up.ping();
      const dataDir = config.dataDir.replace(/\/+$/, "");
      const events = await openEventStore({
        path: `${dataDir}/events.db`,
        onMigrated: (report) => context.err(describeMigration(`${dataDir}/events.db`, report)),
      });
      const store = recoveryStore(events);
      const topic = context.env("TRANSACTIONS_TOPIC")?.trim() || "up.transactions";
      const sink = dryRun ? undefined : await openReconcileSink(config, { topic, logger });
      const tty = Deno.stderr.isTerminal();
      const started = context.now();
      let total = 0;
      let done = 0;
      const common = {
        up,
        store,
        dataDir,
        logger,
        webhookIds: (context.env("RECOVERY_WEBHOOK_IDS") ?? "").split(",").map((id) => id.trim())
          .filter((id) => id !== ""),
        marginMs: Number(context.env("RECOVERY_MARGIN_SECONDS") || 600) * 1000,
        graceMs: Number(context.env("RECONCILE_GRACE_SECONDS") || 60) * 1000,
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
      };
      try {
        // The plan first, always: what is there and what is missing, before anything changes.
        const plan = await runRecoveryPass({
          ...common,
          dryRun: true,
          sink: { publish: () => Promise.resolve("published" as const) },
        });
        context.out(dryRun ? "Plan (dry run: nothing is changed):" : "Plan:");
        for (const webhook of plan.webhooks) {
          const statuses = new Map<string, number>();
          for (const event of webhook.missing) {
            statuses.set(event.lastStatus, (statuses.get(event.lastStatus) ?? 0) + 1);
          }
          const why = [...statuses].map(([status, count]) => `${count} ${status}`).join(", ");
          context.out(
            webhook.gone
              ? `  webhook ${webhook.webhookId}: gone at Up (its logs went with it)`
              : `  webhook ${webhook.webhookId}: ${webhook.entries} log entries, ${webhook.events} events, ${webhook.missing.length} missing${
                why ? ` (last attempt ${why})` : ""
              }${webhook.unreadable ? `, ${webhook.unreadable} unreadable` : ""}`,
          );
        }
        for (const account of plan.accounts) {
          context.out(
            `  account ${account.accountId}: ${account.transactions} transactions, ${account.missing.length} with no event (to reconcile)`,
          );
        }
        const missingEvents = plan.webhooks.reduce((sum, w) => sum + w.missing.length, 0);
        const missingTransactions = plan.accounts.reduce((sum, a) => sum + a.missing.length, 0);
        context.out(
          `Total: ${missingEvents} events to recover, ${missingTransactions} transactions to reconcile (${requests} requests to Up so far).`,
        );
        if (dryRun) {
          context.out("Run again without --dry-run to do it.");
          return 0;
        }
        const report = await runRecoveryPass({
          ...common,
          planned: plan.webhooks,
          sink,
          onPlanned(steps) {
            total += steps;
          },
          onStep() {
            done++;
            const line = progressLine(total === 0 ? 1 : done / total, {
              elapsedMs: context.now() - started,
              count: done,
              unit: "recovered or reconciled",
            });
            if (tty) Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}`));
            else if (done === total || done % 50 === 0) context.err(line);
          },
        });
        if (tty && done > 0) context.err("");
        context.out(
          `Recovered ${report.recovered} events into ${dataDir}/events.db (marked recovered) and reconciled ${report.reconciled} transactions into ${
            sink!.name
          }; ${requests} requests to Up.`,
        );
        return 0;
      } finally {
        await sink?.close();
        store.close();
        await events.close();
      }
    },
  };
}

/** The `recover` command. */
export const recoverCommand: Command = createRecoverCommand();

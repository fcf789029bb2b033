/**
 * @module backfill command
 * `upbus backfill --since <date> [--until <date>] [--account <id>]`: imports history into
 * `up.transactions`, resumable, inside Up's hourly request budget, with a progress bar.
 */
import { parseArgs } from "node:util";
import {
  backfill,
  type BackfillCheckpoint,
  checkpointName,
  readCheckpoint,
} from "../enrich/backfill.ts";
import { pipelineKafka } from "../bus/kafka/connection_check.ts";
import { kafkaTransactionSink } from "../bus/kafka/transaction_sink.ts";
import { localLogTransactionSink } from "../bus/local/local_log_sink.ts";
import type { TransactionSink } from "../bus/sink.ts";
import { transactionRecord } from "../bus/transaction_record.ts";
import { createLogger } from "../runtime/log.ts";
import { loadPipelineConfig } from "../service/pipeline_config.ts";
import { openLocalLog } from "../bus/local/local_log.ts";
import { upClientFromEnv } from "../up/client.ts";
import { createRequestBudget } from "../up/request_budget.ts";
import type { TransactionResource } from "../up/types.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext, reportRetry } from "./context.ts";
import { dateFlag } from "./args.ts";
import { progressLine } from "./progress.ts";
import { assertDataDirAllowed } from "../runtime/data_dir.ts";

const USAGE = `Usage: upbus backfill --since <date> [--until <date>] [--account <id>] [--budget 900]

Pages the accounts and their transactions (page[size]=100) from the Up API into
TRANSACTIONS_TOPIC (up.transactions), keyed by transaction id like the enricher. A checkpoint in
DATA_DIR/backfill/ is saved after every page: run the same command again after an interruption
and it resumes. A date (2024-01-01) is the start of that day in TZ (Australia/Sydney); a full
RFC 3339 timestamp (2024-01-01T09:30:00+11:00) is that instant.

Options:
  --since DATE    oldest transaction to import (required)
  --until DATE    newest, exclusive (default now, its current second included)
  --account ID    only this account (default every account)
  --budget N      most requests in any hour (default 900 of Up's 1000, leaving room for the
                  enricher); the budget survives a restart

Needs UP_API_TOKEN (UP_API_BASE for the simulator). Without KAFKA_BROKERS (embedded mode) it
appends to the local log DATA_DIR/pipeline.db instead, which consume reads.`;

/**
 * Creates the `backfill` command.
 *
 * @param overrides Parts of the outside world to replace (tests pass `env`, `err`, `now`).
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createBackfillCommand } from "./backfill.ts";
 * if (createBackfillCommand().name !== "backfill") throw new Error("unexpected");
 * ```
 */
export function createBackfillCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "backfill",
    summary: "import transaction history into up.transactions (resumable)",
    usage: USAGE,
    async run(args) {
      let values;
      try {
        ({ values } = parseArgs({
          args,
          options: {
            since: { type: "string" },
            until: { type: "string" },
            account: { type: "string" },
            budget: { type: "string" },
          },
          strict: true,
          allowPositionals: false,
        }));
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const context = cliContext(overrides);
      const config = loadPipelineConfig(context.env);
      const since = dateFlag(values.since, "since", config.timeZone);
      if (since === undefined) throw new UsageError("--since is required");
      const until = dateFlag(values.until, "until", config.timeZone);
      const budgetText = values.budget ?? "900";
      if (!/^\d+$/.test(budgetText) || Number(budgetText) < 1 || Number(budgetText) > 1000) {
        throw new UsageError(`--budget is "${budgetText}", expected a whole number from 1 to 1000`);
      }
      assertDataDirAllowed(config.dataDir);
      const logger = createLogger({ level: config.logLevel, format: config.logFormat });
      const dir = `${config.dataDir}/backfill`;
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      const checkpointPath = `${dir}/${checkpointName(since, until, values.account)}`;
      const earlier = await readCheckpoint(checkpointPath);
      if (earlier !== null) context.err(`upbus backfill: resuming from ${checkpointPath}`);
      const budget = createRequestBudget({
        perHour: Number(budgetText),
        history: earlier?.requests,
        now: context.now,
        sleep: context.sleep,
        onWait: (at) =>
          context.err(
            `\nupbus backfill: request budget used up; waiting until ${new Date(at).toISOString()}`,
          ),
      });
      const up = upClientFromEnv({
        env: context.env,
        fetch: budget.wrap(context.fetch),
        now: context.now,
        sleep: context.sleep,
        // A long import waits out an Up that went away mid-way.
        retryUnreachable: true,
        onRetry: reportRetry(context, "backfill"),
      });
      let sink: TransactionSink;
      let closeLog = () => {};
      let destination = config.transactionsTopic;
      if (config.kafkaBrokers.length === 0) {
        const log = await openLocalLog(config.dataDir);
        logger.info(
          "embedded mode: KAFKA_BROKERS is not set, so the backfill appends to the local log",
          { log: log.path, topic: config.transactionsTopic },
        );
        destination = `${config.transactionsTopic} in the local log ${log.path}`;
        sink = localLogTransactionSink(log, { topic: config.transactionsTopic });
        closeLog = () => log.close();
      } else {
        // A wrong password or certificate ends the command here, in one line.
        const kafka = await pipelineKafka(config, logger);
        sink = await kafkaTransactionSink(kafka, {
          topic: config.transactionsTopic,
          partitions: config.kafkaTopicPartitions,
          replicationFactor: config.kafkaReplicationFactor,
          dataDir: config.dataDir,
          logger,
        });
      }
      let skipped = 0;
      // A page is written as the enricher writes: a state older than what the topic holds for
      // the key (the enricher published a newer one since the page was fetched) is skipped.
      const publish = async (transactions: TransactionResource[]) => {
        const outcomes = await sink.publishAll(
          transactions.map((transaction) => transactionRecord(transaction, "backfill")),
        );
        skipped += outcomes.filter((outcome) => outcome === "skipped-stale").length;
      };
      const close = async () => {
        try {
          await sink.close();
        } finally {
          closeLog();
        }
      };
      const started = context.now();
      const tty = Deno.stderr.isTerminal();
      try {
        // Fail fast on a wrong token, with register-webhook's message (after Kafka's check, so
        // a command that cannot reach its broker never asks Up).
        await up.ping();
        const result = await backfill({
          up,
          since,
          until,
          account: values.account,
          checkpointPath,
          requests: budget.history,
          now: context.now,
          publish,
          onProgress(progress) {
            const line = progressLine(progress.fraction, {
              elapsedMs: context.now() - started,
              count: progress.written,
              unit: "transactions",
            }) + `  ${budget.history().length} requests this hour`;
            if (tty) Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}`));
            else context.err(line);
          },
        });
        const total = writtenIn(result);
        const thisRun = total - writtenIn(earlier);
        context.err("");
        context.out(
          `Backfilled ${result.accounts?.length ?? 0} accounts: ${thisRun} transaction records ` +
            `published to ${destination} by this run` +
            (thisRun === total
              ? "."
              : ` (${total} over every run of this range; a resumed page boundary is fetched again).`),
        );
        context.out(`Checkpoint: ${checkpointPath} (delete it to run the same range again).`);
        if (skipped > 0) {
          context.out(
            `${skipped} of them skipped by this run: the topic already held a newer or the same state.`,
          );
        }
        logger.debug("backfill done", { checkpointPath, skippedStale: skipped });
        return 0;
      } finally {
        await close();
      }
    },
  };
}

/** Transaction records a checkpoint says were published, over every run of its range. */
function writtenIn(checkpoint: BackfillCheckpoint | null): number {
  return Object.values(checkpoint?.progress ?? {}).reduce((sum, entry) => sum + entry.written, 0);
}

/** The `backfill` command. */
export const backfillCommand: Command = createBackfillCommand();

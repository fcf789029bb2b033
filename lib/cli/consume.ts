/**
 * @module consume command
 * `upbus consume <name>`: runs one built-in consumer of `up.transactions` until SIGINT or
 * SIGTERM: `console`, `position` (with the live dashboard) or `ledger`.
 */
import type { Consumer, ConsumerMessage } from "../consumers/consumer.ts";
import { consoleLine, createConsoleConsumer } from "../consumers/console.ts";
import { latestTransactions, readKafkaTopic, readLocalTopic } from "../consumers/history.ts";
import { startEmbeddedConsumer } from "../consumers/embedded_runner.ts";
import { idempotent } from "../consumers/idempotent.ts";
import { createLedgerConsumer } from "../consumers/ledger.ts";
import { createPositionConsumer, topicEndOffsets } from "../consumers/position_consumer.ts";
import { type RunningConsumer, startConsumer } from "../consumers/runner.ts";
import { createKafka } from "../kafka/client.ts";
import { ensureTransactionsTopic } from "../kafka/transaction_record.ts";
import { createLogger, type Logger } from "../log.ts";
import { loadPipelineConfig, type PipelineConfig } from "../pipeline_config.ts";
import { type LocalLog, openLocalLog } from "../store/local_log.ts";
import { type UpClient, upClientFromEnv } from "../up/client.ts";
import { parseFlags, wholeNumber } from "./args.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";

const USAGE = `Usage: upbus consume <console|position|ledger> [--last N]

Runs a built-in consumer of TRANSACTIONS_TOPIC (up.transactions) in its consumer group
(upbus-<name>), at least once:
  console   one line per transaction as it happens (DATA_DIR/consumers/console.db remembers
            what was printed; console.local.db in embedded mode); --last N first prints the
            N newest transactions of the topic
  position  settled and held amounts per account, spend by category today and this month,
            rebuilt from the topic on start, reconciled with GET /accounts every
            RECONCILE_SECONDS (300) when UP_API_TOKEN is set; live dashboard on
            http://DASHBOARD_HOST:DASHBOARD_PORT/ (127.0.0.1:8081); anywhere but
            loopback it needs DASHBOARD_PASSWORD (basic auth, any user name)
  ledger    each settled transaction once in DATA_DIR/ledger/transactions.csv and
            DATA_DIR/ledger/journal.ledger (hledger -f DATA_DIR/ledger/journal.ledger balance),
            which starts from an opening balance per account (with UP_API_TOKEN: Up's balance
            less held payments less what the journal holds), so hledger agrees with Up

Without KAFKA_BROKERS (embedded mode) it reads the local log DATA_DIR/pipeline.db that
enrich and backfill write, and commits its offsets there. TZ (Australia/Sydney) sets the
time zone of dates and of "today".`;

/** Builds a consumer of the given name, with its resources. */
type Builder = (setup: {
  config: PipelineConfig;
  /** The topic's end offsets now, by partition. */
  endOffsets: () => Promise<Record<number, string>>;
  /** The end offsets of the partitions a consumer group has not read to the end. */
  unreadEndOffsets: (groupId: string) => Promise<Record<number, string>>;
  up: UpClient | undefined;
  logger: Logger;
  context: CliContext;
  /** `--last N`: how many past transactions to print first (console only). */
  last: number;
  /** Every record of the topic now. */
  history: () => Promise<ConsumerMessage[]>;
}) => Promise<Consumer>;

const BUILT_IN: Record<string, Builder> = {
  async console({ config, context, last, history, logger }) {
    if (last > 0) {
      const past = latestTransactions(await history(), last);
      for (const record of past) context.out(consoleLine(record, config.timeZone));
      logger.info(`printed the last ${past.length} transactions of ${config.transactionsTopic}`);
    }
    const consumer = createConsoleConsumer({
      out: context.out,
      topic: config.transactionsTopic,
      timeZone: config.timeZone,
    });
    // Offsets are the versions it remembers: the local log's are not Kafka's, so each mode
    // keeps its own file (a switch to Kafka must not skip keys seen at a higher local offset).
    const embedded = config.kafkaBrokers.length === 0;
    const handle = idempotent(consumer.handle, {
      path: `${config.dataDir}/consumers/console${embedded ? ".local" : ""}.db`,
    });
    return { ...consumer, handle, close: () => handle.close() };
  },
  async position({ config, endOffsets, up, logger, context }) {
    const offsets = await endOffsets();
    let consumer;
    try {
      // Awaited, so a dashboard that starts asynchronously is caught here too.
      consumer = await createPositionConsumer({
        topic: config.transactionsTopic,
        endOffsets: offsets,
        up,
        reconcileMs: config.reconcileSeconds * 1000,
        dashboard: {
          port: config.dashboardPort,
          hostname: config.dashboardHost,
          password: context.env("DASHBOARD_PASSWORD"),
        },
        timeZone: config.timeZone,
        logger,
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      throw new Deno.errors.AddrInUse(
        `Cannot serve the dashboard on ${config.dashboardHost}:${config.dashboardPort}: the address is in use (another consume position?), set DASHBOARD_PORT to a free port`,
        { cause: error },
      );
    }
    logger.info("dashboard listening", { url: consumer.dashboard?.url });
    return consumer;
  },
  async ledger({ config, up, logger, unreadEndOffsets }) {
    const accountNames: Record<string, string> = {};
    if (up !== undefined) {
      for await (const account of up.listAccounts({ pageSize: 100 })) {
        accountNames[account.id] = account.attributes.displayName;
      }
    }
    const consumer = await createLedgerConsumer({
      dir: `${config.dataDir}/ledger`,
      topic: config.transactionsTopic,
      accountNames,
      timeZone: config.timeZone,
      up,
      unreadEndOffsets: up === undefined ? undefined : await unreadEndOffsets("upbus-ledger"),
    });
    if (up === undefined) {
      logger.warn(
        "no opening balances: UP_API_TOKEN is not set, so hledger sums only the transactions the journal holds",
      );
    }
    logger.info("ledger files", { csv: consumer.csvPath, journal: consumer.journalPath });
    return consumer;
  },
};

/** The consumers that ask the Up API (for balances and account names). */
const USES_UP = new Set(["position", "ledger"]);

/**
 * Runs `action` again while Kafka answers with a retriable error, for up to 10 s: a topic
 * another process created a moment ago may have no leader yet ("not the leader for that
 * topic-partition").
 */
async function whenLeadersAnswer<T>(action: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if ((error as { retriable?: boolean }).retriable !== true || Date.now() > deadline) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The names `consume` accepts. */
export const CONSUMER_NAMES: readonly string[] = Object.keys(BUILT_IN);

/**
 * Creates the `consume` command.
 *
 * @param overrides Parts of the outside world to replace (tests pass `env`, `out`, `stopped`).
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createConsumeCommand } from "./consume.ts";
 * if (createConsumeCommand().name !== "consume") throw new Error("unexpected");
 * ```
 */
export function createConsumeCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "consume",
    summary: "run a consumer of up.transactions: console, position (dashboard) or ledger",
    usage: USAGE,
    async run(args) {
      if (args.length === 0) throw new UsageError("which consumer?");
      const { values } = parseFlags(args.slice(1), { last: { type: "string" } });
      if (values.last !== undefined && args[0] !== "console") {
        throw new UsageError("--last is an option of consume console");
      }
      const last = wholeNumber(values.last, { flag: "last", fallback: 0, max: 10_000 });
      const build = BUILT_IN[args[0]];
      if (build === undefined) {
        throw new UsageError(
          `unknown consumer "${args[0]}", expected one of ${CONSUMER_NAMES.join(", ")}`,
        );
      }
      const context = cliContext(overrides);
      const config = loadPipelineConfig(context.env);
      const logger = createLogger({ level: config.logLevel, format: config.logFormat }).child({
        consumer: args[0],
      });
      await Deno.mkdir(`${config.dataDir}/consumers`, { recursive: true, mode: 0o700 });
      const up = context.env("UP_API_TOKEN")
        ? upClientFromEnv({ env: context.env, fetch: context.fetch, maxRateLimitWaitMs: 10_000 })
        : undefined;
      // The consumers that ask Up fail fast on a wrong token, with register-webhook's message.
      if (up !== undefined && USES_UP.has(args[0])) await up.ping();
      const topic = config.transactionsTopic;
      let log: LocalLog | undefined;
      let start: (consumer: Consumer) => Promise<RunningConsumer>;
      let endOffsets: () => Promise<Record<number, string>>;
      let history: () => Promise<ConsumerMessage[]>;
      let unreadEndOffsets: (groupId: string) => Promise<Record<number, string>>;
      if (config.kafkaBrokers.length === 0) {
        const local = log = await openLocalLog(config.dataDir);
        logger.info(
          "embedded mode: KAFKA_BROKERS is not set, so the consumer reads the local log",
          { log: local.path, topic },
        );
        start = (consumer) => startEmbeddedConsumer(consumer, { log: local, logger });
        endOffsets = () => Promise.resolve({ 0: String(local.end(topic)) });
        history = () => Promise.resolve(readLocalTopic(local, topic));
        unreadEndOffsets = (groupId) => {
          const end = local.end(topic);
          const unread: Record<number, string> = {};
          if (end > (local.committed(groupId, topic) ?? 0)) unread[0] = String(end);
          return Promise.resolve(unread);
        };
      } else {
        const kafka = createKafka({
          brokers: config.kafkaBrokers,
          clientId: config.kafkaClientId,
          logger,
        });
        await ensureTransactionsTopic(kafka, topic, {
          partitions: config.kafkaTopicPartitions,
          replicationFactor: config.kafkaReplicationFactor,
        });
        start = (consumer) => startConsumer(consumer, { kafka, logger });
        endOffsets = () => whenLeadersAnswer(() => topicEndOffsets(kafka, topic));
        history = () => readKafkaTopic(kafka, topic);
        unreadEndOffsets = async (groupId) => {
          const ends = await topicEndOffsets(kafka, topic);
          const admin = kafka.admin();
          await admin.connect();
          try {
            const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
            const next = new Map(
              (committed?.partitions ?? []).map((entry) => [entry.partition, BigInt(entry.offset)]),
            );
            return Object.fromEntries(
              Object.entries(ends).filter(([partition, end]) => {
                const from = next.get(Number(partition)) ?? -1n;
                return BigInt(end) > (from < 0n ? 0n : from);
              }),
            );
          } finally {
            await admin.disconnect();
          }
        };
      }
      try {
        const consumer = await build({
          config,
          endOffsets,
          unreadEndOffsets,
          up,
          logger,
          context,
          last,
          history,
        });
        let running;
        try {
          running = await start(consumer);
        } catch (error) {
          await consumer.close?.();
          throw error;
        }
        // Listening before saying it runs: whoever waits for that line may signal at once.
        const stopped = context.stopped();
        logger.info("consumer running", { topic: consumer.topic, group: running.groupId });
        if (consumer.name === "console") {
          logger.info("waiting for new transactions; one line each (Ctrl-C stops)");
        }
        const signal = await stopped;
        logger.info("shutting down", { signal, handled: running.handled });
        await running.stop();
      } finally {
        log?.close();
      }
      return 0;
    },
  };
}

/** The `consume` command. */
export const consumeCommand: Command = createConsumeCommand();

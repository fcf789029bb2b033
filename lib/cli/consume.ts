/**
 * @module consume command
 * `upbus consume <name>`: runs one built-in consumer of `up.transactions` until SIGINT or
 * SIGTERM: `console`, `position` (with the live dashboard) or `ledger`.
 */
import type { Consumer, ConsumerMessage } from "../bus/consumer.ts";
import { createConsoleConsumer } from "../consumers/console/console.ts";
import { latestTransactions, readTopicNow } from "../consumers/console/history.ts";
import { idempotent } from "../consumers/idempotent.ts";
import { createLedgerConsumer } from "../consumers/ledger/ledger.ts";
import { createNotifyConsumer } from "../consumers/notify/notify.ts";
import { createMqttConsumer } from "../consumers/mqtt/mqtt_consumer.ts";
import { loadMqttSettings, type MqttSettings } from "../consumers/mqtt/settings.ts";
import { createActualConsumer } from "../consumers/actual/actual.ts";
import { startActualBridge } from "../consumers/actual/bridge_client.ts";
import { parseAccountMap } from "../consumers/actual/mapping.ts";
import { notifyDryRun } from "../consumers/notify/dry_run.ts";
import { type LoadedRules, loadRules } from "../consumers/notify/load.ts";
import { parseFlags, wholeNumber } from "./args.ts";
import { createPositionConsumer } from "../consumers/position/position_consumer.ts";
import { startConsumer } from "../bus/runner.ts";
import type { RecordSource } from "../bus/source.ts";
import { kafkaRecordSource } from "../bus/kafka/record_source.ts";
import { pipelineKafka } from "../bus/kafka/connection_check.ts";
import { ensureTransactionsTopic } from "../bus/transaction_record.ts";
import { createLogger, type Logger } from "../runtime/log.ts";
import { loadPipelineConfig, type PipelineConfig } from "../service/pipeline_config.ts";
import { type LocalLog, openLocalLog } from "../bus/local/local_log.ts";
import { localLogRecordSource } from "../bus/local/local_log_source.ts";
import { type UpClient, upClientFromEnv } from "../up/client.ts";
import type { RunningStage } from "../service/run.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";
import { assertDataDirAllowed } from "../runtime/data_dir.ts";
import { readRecoveryState } from "../webhook/recovery/recovery_state.ts";

const USAGE = `Usage: upbus consume <console|position|ledger|actual|mqtt> [--last N]
       upbus consume notify [--rules FILE] [--dry-run N]

Runs a built-in consumer of TRANSACTIONS_TOPIC (up.transactions) in its consumer group
(upbus-<name>), at least once:
  console   one line per transaction as it happens (DATA_DIR/consumers/console.db remembers
            what was printed; console.local.db in embedded mode); --last N first prints the
            N newest transactions of the topic
  position  settled and held amounts per account; balance, spend per day and spend by
            category over the last 30 days (the dashboard; /metrics: today and this month),
            rebuilt from the topic on start, reconciled with GET /accounts every
            RECONCILE_SECONDS (300) when UP_API_TOKEN is set; live dashboard on
            http://DASHBOARD_HOST:DASHBOARD_PORT/ (127.0.0.1:8081); anywhere but
            loopback it needs DASHBOARD_PASSWORD (basic auth, any user name)
  ledger    each settled transaction once in DATA_DIR/ledger/transactions.csv and
            DATA_DIR/ledger/journal.ledger (hledger -f DATA_DIR/ledger/journal.ledger balance),
            which starts from an opening balance per account (with UP_API_TOKEN: Up's balance
            less held payments less what the journal holds), so hledger agrees with Up
  notify    the rules of FILE (NOTIFY_RULES, ./notify.yaml) sent to ntfy, signed webhooks,
            Telegram or Discord; state and dead letters in DATA_DIR/notify/state.db.
            --dry-run N: which rules would fire on the latest N transactions; sends nothing
  mqtt      each Up account as a Home Assistant device on the broker MQTT_URL (mqtt:// or
            mqtts://; MQTT_USERNAME, MQTT_PASSWORD or MQTT_PASSWORD_FILE, MQTT_CA_FILE):
            retained discovery under MQTT_DISCOVERY_PREFIX (homeassistant), balances and
            spend under MQTT_TOPIC_PREFIX (upbus), one event per transaction; needs
            UP_API_TOKEN; state in DATA_DIR/mqtt/
  actual    every transaction into an Actual Budget file on ACTUAL_SERVER_URL (ACTUAL_SYNC_ID,
            ACTUAL_PASSWORD or ACTUAL_PASSWORD_FILE), history included; runs @actual-app/api
            under Node.js (ACTUAL_NODE, node), installed by npm ci in ACTUAL_API_DIR
            (./tools/actual). Up accounts go to Actual accounts of the same name, created on
            first use, or as ACTUAL_ACCOUNTS says: "Spending=Everyday,Saver=Savings"

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
  /** For `notify`: the rules file, loaded and checked before anything connects. */
  notify?: { loaded: LoadedRules; dryRun: number | undefined };
  /** For `mqtt`: the broker settings, read before anything connects. */
  mqtt?: MqttSettings;
  /** For `console`: how many past transactions to print first (`--last N`). */
  last: number;
  /** The source the consumer reads. */
  source: RecordSource;
}) => Promise<Consumer>;

const BUILT_IN: Record<string, Builder> = {
  async console({ config, context, last, source, logger, up }) {
    // Up's category names, as the dashboard shows them; without Up, the ids made readable.
    const categoryNames = up === undefined ? undefined : await up.listCategories().then(
      (categories) =>
        new Map(categories.map((category) => [category.id, category.attributes.name])),
      () => undefined,
    );
    const consumer = createConsoleConsumer({
      out: context.out,
      topic: config.transactionsTopic,
      timeZone: config.timeZone,
      categoryNames,
    });
    if (last > 0) {
      const records = await readTopicNow(source, config.transactionsTopic);
      const past = latestTransactions(records, last);
      // Through the consumer, so that a record the stream then delivers again is not repeated.
      for (const record of past) consumer.handle(record);
      logger.info(
        records.length === 0
          ? `${config.transactionsTopic} is empty: \`deno task enrich\` fills it from the webhook events (and \`deno task backfill --since YYYY-MM-DD\` with past transactions)`
          : past.length === 0
          ? `${config.transactionsTopic} holds no transaction that was not deleted`
          : `printed the last ${past.length} transactions of ${config.transactionsTopic}`,
      );
    }
    // Offsets are the versions it remembers: the local log's are not Kafka's, so each mode
    // keeps its own file (a switch to Kafka must not skip keys seen at a higher local offset).
    const embedded = config.kafkaBrokers.length === 0;
    const handle = idempotent(consumer.handle, {
      path: `${config.dataDir}/consumers/console${embedded ? ".local" : ""}.db`,
    });
    // With --last the history stands for what came while it was stopped: it goes on from the end.
    return { ...consumer, handle, startAtEnd: last > 0, close: () => handle.close() };
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
        // Recovery's last complete pass (the service writes it beside events.db).
        completeAt: async () => {
          const { lastCompletePass } = await readRecoveryState(config.dataDir);
          return lastCompletePass === undefined ? null : Date.parse(lastCompletePass);
        },
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
    const accountNames = await accountNamesOf(up);
    const consumer = await createLedgerConsumer({
      dir: `${config.dataDir}/ledger`,
      logger,
      topic: config.transactionsTopic,
      accountNames,
      timeZone: config.timeZone,
      up,
      unreadEndOffsets: up === undefined
        ? undefined
        : await unreadEndOffsets(`${config.groupPrefix}-ledger`),
    });
    if (up === undefined) {
      logger.warn(
        "no opening balances: UP_API_TOKEN is not set, so hledger sums only the transactions the journal holds",
      );
    }
    logger.info("ledger files", { csv: consumer.csvPath, journal: consumer.journalPath });
    return consumer;
  },
  async actual({ config, up, logger, context }) {
    const env = context.env;
    const need = (name: string, what: string) => {
      const value = env(name);
      if (!value) throw new TypeError(`Cannot sync to Actual: ${name} is not set (${what})`);
      return value;
    };
    const serverURL = need("ACTUAL_SERVER_URL", "the sync server, e.g. http://127.0.0.1:5006");
    const syncId = need("ACTUAL_SYNC_ID", "Actual: Settings, Advanced settings, Sync ID");
    let password = env("ACTUAL_PASSWORD");
    const passwordFile = env("ACTUAL_PASSWORD_FILE");
    if (!password && passwordFile) password = (await Deno.readTextFile(passwordFile)).trim();
    if (!password) {
      throw new TypeError(
        "Cannot sync to Actual: set ACTUAL_PASSWORD or ACTUAL_PASSWORD_FILE (the server password)",
      );
    }
    const mapped = parseAccountMap(env("ACTUAL_ACCOUNTS"));
    const bridge = startActualBridge({
      node: env("ACTUAL_NODE"),
      apiDir: env("ACTUAL_API_DIR"),
      onLog: (line) => logger.debug("actual api", { line }),
    });
    try {
      await Deno.mkdir(`${config.dataDir}/actual`, { recursive: true, mode: 0o700 });
      await bridge.call("open", {
        serverURL,
        password,
        syncId,
        dataDir: `${config.dataDir}/actual`,
        budgetPassword: env("ACTUAL_BUDGET_PASSWORD"),
      });
      // Up's names, then ACTUAL_ACCOUNTS: "Up name or id=Actual name".
      const names = await accountNamesOf(up);
      for (const [id, name] of Object.entries(names)) {
        names[id] = mapped.get(id) ?? mapped.get(name) ?? name;
      }
      for (const [key, name] of mapped) {
        if (!(key in names) && /^[0-9a-f-]{36}$/.test(key)) names[key] = name;
      }
      const consumer = await createActualConsumer({
        bridge,
        topic: config.transactionsTopic,
        accountNames: names,
        timeZone: config.timeZone,
        logger,
      });
      logger.info("actual budget open", { server: serverURL });
      return consumer;
    } catch (error) {
      await bridge.close();
      throw error;
    }
  },
  async mqtt({ config, endOffsets, up, logger, mqtt }) {
    if (up === undefined) {
      throw new TypeError(
        "Cannot publish to MQTT: UP_API_TOKEN is not set (GET /accounts names the devices and gives the balances)",
      );
    }
    const embedded = config.kafkaBrokers.length === 0;
    const consumer = await createMqttConsumer({
      settings: mqtt!,
      up,
      statePath: `${config.dataDir}/mqtt/state${embedded ? ".local" : ""}.db`,
      topic: config.transactionsTopic,
      endOffsets: await endOffsets(),
      reconcileMs: config.reconcileSeconds * 1000,
      timeZone: config.timeZone,
      logger,
    });
    logger.info("mqtt broker connected", {
      url: mqtt!.url,
      discovery: mqtt!.discoveryPrefix,
      topics: mqtt!.topicPrefix,
      state: consumer.store.path,
    });
    return consumer;
  },
  async notify({ config, up, logger, notify }) {
    const { rules, targets } = notify!.loaded;
    const consumer = createNotifyConsumer({
      rules,
      targets,
      statePath: `${config.dataDir}/notify/state.db`,
      topic: config.transactionsTopic,
      accountNames: await accountNamesOf(up),
      timeZone: config.timeZone,
      logger,
    });
    logger.info("notify rules loaded", {
      rules: rules.rules.length,
      targets: [...targets.keys()],
      pending: consumer.outbox.counts().pending,
    });
    return consumer;
  },
};

async function accountNamesOf(up: UpClient | undefined): Promise<Record<string, string>> {
  const names: Record<string, string> = {};
  if (up !== undefined) {
    for await (const account of up.listAccounts({ pageSize: 100 })) {
      names[account.id] = account.attributes.displayName;
    }
  }
  return names;
}

function notifyFlags(args: string[], context: CliContext) {
  const { values } = parseFlags(args, {
    rules: { type: "string" },
    "dry-run": { type: "string" },
  });
  return {
    rulesPath: values.rules ?? context.env("NOTIFY_RULES") ?? "./notify.yaml",
    dryRun: values["dry-run"] === undefined
      ? undefined
      : wholeNumber(values["dry-run"], { flag: "dry-run", fallback: 20, min: 1, max: 10_000 }),
  };
}

/** The consumers that ask the Up API (for balances and account names). */
const USES_UP = new Set(["position", "ledger", "mqtt"]);

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

/** Options of {@linkcode startConsumeStage}. */
export interface ConsumeStageOptions {
  /** For `console`: how many past transactions to print first (`--last N`). Default 0. */
  last?: number;
  /** For `notify`: the rules file. Default `NOTIFY_RULES`, else `./notify.yaml`. */
  rulesPath?: string;
  /**
   * Called with each record before the consumer's handler; what it throws is the handler's
   * (`upbus run`'s test-only `UPBUS_TEST_FAULT` makes a stage fail this way). Default none.
   */
  beforeHandle?: (message: ConsumerMessage) => void;
}

/** The local log, or Kafka with the enriched topic made sure of, as a record source. */
async function openRecordSource(
  config: PipelineConfig,
  logger: Logger,
): Promise<{ source: RecordSource; log?: LocalLog }> {
  const topic = config.transactionsTopic;
  if (config.kafkaBrokers.length === 0) {
    const log = await openLocalLog(config.dataDir);
    logger.info(
      "embedded mode: KAFKA_BROKERS is not set, so the consumer reads the local log",
      { log: log.path, topic },
    );
    return { source: localLogRecordSource(log), log };
  }
  // A wrong password or certificate ends the command here, in one line.
  const kafka = await pipelineKafka(config, logger);
  await ensureTransactionsTopic(kafka, topic, {
    partitions: config.kafkaTopicPartitions,
    replicationFactor: config.kafkaReplicationFactor,
  });
  return { source: kafkaRecordSource(kafka) };
}

/** The Up API client of a consumer, or `undefined` without `UP_API_TOKEN`. */
function upFrom(context: CliContext): UpClient | undefined {
  return context.env("UP_API_TOKEN")
    ? upClientFromEnv({
      env: context.env,
      fetch: context.fetch,
      maxRateLimitWaitMs: 10_000,
      retryUnreachable: true,
    })
    : undefined;
}

/**
 * Starts the built-in consumer `name` from the environment, in the mode it names: what `upbus
 * consume <name>` runs until a signal, and the stage of that name in `upbus run`.
 *
 * @param name `console`, `position`, `ledger`, `notify`, `actual` or `mqtt`.
 * @param context The environment, output and HTTP client.
 * @param options `--last`, the rules file, a hook before each record.
 * @returns The running stage; stop it on shutdown.
 * @throws {Error} If the configuration, the rules, Up's token, Kafka or the local files are wrong.
 */
export async function startConsumeStage(
  name: string,
  context: CliContext,
  options: ConsumeStageOptions = {},
): Promise<RunningStage> {
  const build = BUILT_IN[name];
  if (build === undefined) {
    throw new UsageError(
      `unknown consumer "${name}", expected one of ${CONSUMER_NAMES.join(", ")}`,
    );
  }
  const config = loadPipelineConfig(context.env);
  const mqtt = name === "mqtt" ? loadMqttSettings(context.env) : undefined;
  const notify = name === "notify"
    ? {
      loaded: await loadRules(
        options.rulesPath ?? context.env("NOTIFY_RULES") ?? "./notify.yaml",
        { env: context.env },
      ),
      dryRun: undefined,
    }
    : undefined;
  assertDataDirAllowed(config.dataDir);
  const logger = createLogger({ level: config.logLevel, format: config.logFormat }).child({
    consumer: name,
  });
  await Deno.mkdir(`${config.dataDir}/consumers`, { recursive: true, mode: 0o700 });
  const up = upFrom(context);
  const topic = config.transactionsTopic;
  const { source, log } = await openRecordSource(config, logger);
  try {
    // The consumers that ask Up fail fast on a wrong token, with register-webhook's message
    // (after Kafka's check, so a command that cannot reach its broker never asks Up).
    if (up !== undefined && USES_UP.has(name)) await up.ping();
    const consumer = await build({
      config,
      endOffsets: () => whenLeadersAnswer(() => source.endOffsets(topic)),
      unreadEndOffsets: (groupId: string) => source.unreadEndOffsets(topic, groupId),
      up,
      logger,
      context,
      notify,
      mqtt,
      last: options.last ?? 0,
      source,
    });
    const before = options.beforeHandle;
    const handled: Consumer = before === undefined ? consumer : Object.assign(consumer, {
      handle: ((handle) => (message: ConsumerMessage) => {
        before(message);
        return handle.call(consumer, message);
      })(consumer.handle),
    });
    let running;
    try {
      running = await startConsumer(handled, { source, logger, groupPrefix: config.groupPrefix });
    } catch (error) {
      await consumer.close?.();
      throw error;
    }
    logger.info("consumer running", {
      topic: consumer.topic,
      group: running.groupId,
      starts: running.start,
    });
    if (consumer.name === "console") {
      logger.info("waiting for new transactions; one line each (Ctrl-C stops)");
    }
    const metrics = consumer.metrics?.bind(consumer);
    const openLog = log;
    return {
      failed: running.failed,
      stats: () => ({ handled: running.handled, failures: running.failures }),
      ...(metrics ? { metrics } : {}),
      async stop() {
        logger.info("shutting down", { handled: running.handled });
        try {
          await running.stop();
        } finally {
          openLog?.close();
        }
      },
    };
  } catch (error) {
    log?.close();
    throw error;
  }
}

/** `consume notify --dry-run N`: which rules would fire on the latest N transactions. */
async function dryRunNotify(context: CliContext, rulesPath: string, last: number): Promise<number> {
  const config = loadPipelineConfig(context.env);
  const loaded = await loadRules(rulesPath, { env: context.env });
  assertDataDirAllowed(config.dataDir);
  const logger = createLogger({ level: config.logLevel, format: config.logFormat }).child({
    consumer: "notify",
  });
  const up = upFrom(context);
  const { source, log } = await openRecordSource(config, logger);
  try {
    const lines = await notifyDryRun({
      source,
      topic: config.transactionsTopic,
      rules: loaded.rules,
      last,
      accountNames: await accountNamesOf(up),
      timeZone: config.timeZone,
    });
    for (const line of lines) context.out(line);
    return 0;
  } finally {
    log?.close();
  }
}

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
    summary:
      "run a consumer of up.transactions: console, position (dashboard), ledger, notify, actual or mqtt",
    usage: USAGE,
    async run(args) {
      if (args.length === 0) throw new UsageError("which consumer?");
      let last = 0;
      if (args[0] === "console") {
        const { values } = parseFlags(args.slice(1), { last: { type: "string" } });
        last = wholeNumber(values.last, { flag: "last", fallback: 0, max: 10_000 });
      } else if (args.length > 1 && args[0] !== "notify") {
        throw new UsageError(`unexpected "${args[1]}"`);
      }
      if (BUILT_IN[args[0]] === undefined) {
        throw new UsageError(
          `unknown consumer "${args[0]}", expected one of ${CONSUMER_NAMES.join(", ")}`,
        );
      }
      const context = cliContext(overrides);
      const flags = args[0] === "notify" ? notifyFlags(args.slice(1), context) : undefined;
      // A dry run ends by itself, and Ctrl-C ends it at once.
      if (flags?.dryRun !== undefined) {
        return await dryRunNotify(context, flags.rulesPath, flags.dryRun);
      }
      // Listening from here, so a Ctrl-C while it starts still gets the orderly stop.
      const stopped = context.stopped();
      const stage = await startConsumeStage(args[0], context, {
        last,
        rulesPath: flags?.rulesPath,
      });
      await stopped;
      await stage.stop();
      return 0;
    },
  };
}

/** The `consume` command. */
export const consumeCommand: Command = createConsumeCommand();

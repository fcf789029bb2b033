/**
 * `upbus replay [--since DATE] [--until DATE] [--type TYPE] [--to TOPIC] [--dry-run]`: publishes
 * stored events again from `DATA_DIR/events.db`, for a consumer that must rebuild: the same keys,
 * values, ids and headers as the relay's records, plus `upbus_replayed`. With Kafka to the events
 * topic (`KAFKA_TOPIC`) or `--to`; in embedded mode to the local log's `--to` topic (events.db
 * itself holds each event once). The plan comes first; `--dry-run` stops there.
 *
 * @module
 */
import { dateFlag, parseFlags } from "./args.ts";
import { type Command, UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";
import { progressLine } from "./progress.ts";
import { DEFAULT_TIME_ZONE } from "../runtime/dates.ts";
import { createKafka } from "../bus/kafka/client.ts";
import { UpbusProducer } from "../bus/kafka/producer.ts";
import { ensureTopics } from "../bus/kafka/topics.ts";
import { openLocalLog } from "../bus/local/local_log.ts";
import { replayRecord, selectReplay } from "../relay/replay.ts";
import { createLogger } from "../runtime/log.ts";
import { loadConfig } from "../service/config.ts";

const USAGE =
  `Usage: upbus replay [--since DATE] [--until DATE] [--type TYPE] [--to TOPIC] [--dry-run]

Publishes the stored webhook events that Up created in a span again, in the store's order,
each with the key, value, ce_id and headers the relay gave it plus upbus_replayed (when):
for a consumer that must rebuild. With KAFKA_BROKERS, to KAFKA_TOPIC or --to; without
(embedded mode), to the local log DATA_DIR/pipeline.db under --to (required there: the
events log, events.db, holds each event once). Dead letters are not replayed.

Options:
  --since DATE   events Up created from this instant (2026-12-01: the start of that day in TZ,
                 default Australia/Sydney; or a date-time with its offset); default the first
  --until DATE   ... and before this instant; default the last
  --type TYPE    only this event type, such as TRANSACTION_SETTLED
  --to TOPIC     the topic to publish to
  --dry-run      print the plan and publish nothing`;

/**
 * Creates the `replay` command.
 *
 * @param overrides Parts of the outside world to replace.
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createReplayCommand } from "./replay.ts";
 * if (createReplayCommand().name !== "replay") throw new Error("unexpected");
 * ```
 */
export function createReplayCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "replay",
    summary: "publish stored events again, for a consumer that must rebuild",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const { values } = parseFlags(args, {
        since: { type: "string" },
        until: { type: "string" },
        type: { type: "string" },
        to: { type: "string" },
        "dry-run": { type: "boolean" },
      });
      const zone = context.env("TZ")?.trim() || DEFAULT_TIME_ZONE;
      const since = dateFlag(values.since, "since", zone);
      const until = dateFlag(values.until, "until", zone);
      if (values.type !== undefined && !/^[A-Z_]+$/.test(values.type)) {
        throw new UsageError(
          `--type is "${values.type}", expected an Up event type such as TRANSACTION_SETTLED`,
        );
      }
      if (values.to !== undefined && !/^[A-Za-z0-9._-]{1,245}$/.test(values.to)) {
        throw new UsageError(`--to is "${values.to}", expected a topic name`);
      }
      const config = loadConfig((name) => context.env(name));
      const kafkaMode = config.kafkaBrokers.length > 0;
      if (!kafkaMode && values.to === undefined) {
        throw new UsageError(
          "embedded mode (no KAFKA_BROKERS) needs --to TOPIC: the local log topic to replay into",
        );
      }
      const topic = values.to ?? config.kafkaTopic;
      const path = `${config.dataDir.replace(/\/+$/, "")}/events.db`;
      try {
        Deno.statSync(path);
      } catch {
        context.err(`upbus replay: Cannot replay: ${path} does not exist; set DATA_DIR`);
        return 1;
      }
      const events = selectReplay(path, {
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        ...(values.type ? { type: values.type } : {}),
      });
      const byType = new Map<string, number>();
      for (const event of events) byType.set(event.type!, (byType.get(event.type!) ?? 0) + 1);
      const destination = kafkaMode
        ? `Kafka topic ${topic}`
        : `${config.dataDir} local log ${topic}`;
      context.out(`${values["dry-run"] ? "Plan (dry run: nothing is published)" : "Plan"}:`);
      context.out(
        `  ${events.length} events to ${destination}${
          byType.size ? ` (${[...byType].map(([type, n]) => `${n} ${type}`).join(", ")})` : ""
        }`,
      );
      if (values["dry-run"] || events.length === 0) return 0;
      const at = new Date(context.now());
      const started = context.now();
      const tty = Deno.stderr.isTerminal();
      const progress = (done: number) => {
        const line = progressLine(done / events.length, {
          elapsedMs: context.now() - started,
          count: done,
          unit: "events",
        });
        if (tty) Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}`));
        else if (done === events.length) context.err(line);
      };
      if (kafkaMode) {
        const logger = createLogger({ level: config.logLevel, format: config.logFormat });
        const kafka = createKafka({
          brokers: config.kafkaBrokers,
          clientId: `${config.kafkaClientId}-replay`,
          connection: config.kafkaConnection,
          logger,
        });
        await ensureTopics(kafka, [topic], {
          partitions: config.kafkaTopicPartitions,
          replicationFactor: config.kafkaReplicationFactor,
        });
        const producer = await UpbusProducer.connect(kafka);
        try {
          for (let i = 0; i < events.length; i += 100) {
            const batch = events.slice(i, i + 100).map((event) => {
              const record = replayRecord(event, at);
              return {
                topic,
                message: {
                  key: record.key,
                  value: Buffer.from(record.value),
                  headers: record.headers,
                },
              };
            });
            await producer.sendAll(batch);
            progress(Math.min(events.length, i + 100));
          }
        } finally {
          await producer.disconnect();
        }
      } else {
        const log = await openLocalLog(config.dataDir);
        try {
          for (let i = 0; i < events.length; i += 100) {
            log.append(topic, events.slice(i, i + 100).map((event) => replayRecord(event, at)));
            progress(Math.min(events.length, i + 100));
          }
        } finally {
          log.close();
        }
      }
      if (tty) context.err("");
      context.out(
        `Replayed ${events.length} events to ${destination} (upbus_replayed: ${at.toISOString()}).`,
      );
      return 0;
    },
  };
}

/** The `replay` command. */
export const replayCommand: Command = createReplayCommand();

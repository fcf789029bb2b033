/**
 * The relay's worker: runs {@linkcode startRelay} off the HTTP thread, with its own store
 * connection and its own Kafka client, so that encoding and sending batches never delays a
 * webhook's answer. {@linkcode startRelayThread} is its other half.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { LogFormat, LogLevel } from "../runtime/log.ts";
import { createKafka } from "../bus/kafka/client.ts";
import { describeKafkaError } from "../bus/kafka/connection_error.ts";
import type { KafkaConnectionConfig } from "../bus/kafka/connection_config.ts";
import { createLogger } from "../runtime/log.ts";
import { type Relay, type RelayOptions, type RelayStatus, startRelay } from "./relay.ts";
import { SqliteRelaySource } from "./relay_source.ts";

/** How to start the relay in the worker: the relay's tuning, plus what the worker builds itself
 * (its store connection, Kafka client and logger) in plain data that crosses `postMessage`. */
export interface RelayWorkerConfig
  extends Omit<RelayOptions, "kafka" | "logger" | "metrics" | "onStatus" | "explain"> {
  /** The event store's database file. */
  path: string;
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Client id announced to the brokers. */
  clientId: string;
  /** TLS and SASL; default plaintext. */
  connection?: KafkaConnectionConfig;
  /** The worker's log level. */
  logLevel: LogLevel;
  /** The worker's log format; default by whether stderr is a terminal. */
  logFormat?: LogFormat;
  /** One Int32 on a `SharedArrayBuffer`, 1 while the relay waits for a commit: the other thread
   * sends `wake` only then (see `SqliteRelaySourceOptions`). Default: none, every
   * `wake` is sent. */
  waitFlag?: Int32Array;
}

/** A message to the worker. */
export type RelayWorkerRequest =
  | { op: "start"; config: RelayWorkerConfig }
  | { op: "wake" }
  | { op: "drained"; id: number; timeoutMs: number }
  | { op: "stop"; id: number; flushMs: number };

/** A message from the worker. */
export type RelayWorkerReply =
  | { type: "status"; status: RelayStatus }
  | { type: "published"; count: number }
  | { type: "publishError" }
  | { type: "done"; id: number; error?: string };

let relay: Relay | undefined;
let source: SqliteRelaySource | undefined;
const post = (reply: RelayWorkerReply) => self.postMessage(reply);

function start(config: RelayWorkerConfig): void {
  const { path, brokers, clientId, connection, logLevel, logFormat, waitFlag, ...tuning } = config;
  const logger = createLogger({
    level: logLevel,
    format: logFormat,
    fields: { component: "relay" },
  });
  source = new SqliteRelaySource(path, { waitFlag });
  relay = startRelay(source, {
    ...tuning,
    kafka: createKafka({
      brokers,
      clientId,
      connection,
      logger: logger.child({ component: "kafkajs" }),
    }),
    logger,
    metrics: {
      published: { inc: (_labels, count = 1) => post({ type: "published", count }) },
      publishErrors: { inc: () => post({ type: "publishError" }) },
    },
    onStatus: (status) => post({ type: "status", status }),
    explain: (error) => describeKafkaError(error, connection),
  });
}

async function answer(id: number, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    post({ type: "done", id });
  } catch (error) {
    post({ type: "done", id, error: (error as Error).message });
  }
}

self.onmessage = (message: MessageEvent<RelayWorkerRequest>) => {
  const request = message.data;
  switch (request.op) {
    case "start":
      start(request.config);
      break;
    case "wake":
      source?.notifyCommit();
      break;
    case "drained":
      answer(request.id, () => relay!.drained(request.timeoutMs));
      break;
    case "stop":
      answer(request.id, async () => {
        await relay?.stop(request.flushMs);
        source?.close();
        relay = undefined;
        source = undefined;
      });
      break;
  }
};

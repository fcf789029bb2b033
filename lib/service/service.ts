/**
 * The running service: store, secrets, relay and HTTP server wired together from a `Config`,
 * with an orderly shutdown (stop accepting, finish in-flight requests, flush the relay,
 * disconnect from Kafka, close the store).
 *
 * @module
 */
import process from "node:process";
import type { Config } from "./config.ts";
import { createApp } from "../webhook/app.ts";
import { securityProtocol } from "../bus/kafka/connection_config.ts";
import { serveEdge } from "../webhook/edge.ts";
import { createRefusalLog } from "../webhook/refusal_log.ts";
import type { Logger } from "../runtime/log.ts";
import { createMetrics, type ServiceMetrics } from "../runtime/metrics.ts";
import { describeRelay, type Relay } from "../relay/relay.ts";
import { startRelayThread } from "../relay/relay_thread.ts";
import { createSecretRing } from "../webhook/secret_ring.ts";
import { type EventStore, openEventStore } from "../store/event_store.ts";
import { type RecoveryService, startRecoveryService } from "./recovery.ts";
import { readWebhookState, webhookSecretsFrom, webhookStatePath } from "../up/webhook_state.ts";

/** Options for {@linkcode startService}. */
export interface ServiceOptions {
  /** Where the service logs. */
  logger: Logger;
  /** Called once the server listens; default none. */
  onListen?: (address: Deno.NetAddr) => void;
  /** How often refused requests are summarized in the log, in ms; default 60000. */
  refusalSummaryMs?: number;
  /** More `/readyz` checks by name (the stages of `upbus run`); default none. */
  checks?: () => Record<string, { ready: boolean; text: string }>;
}

/** A running service. */
export interface Service {
  /** Where `/webhook` listens. */
  address: Deno.NetAddr;
  /** Where `/healthz`, `/readyz` and `/metrics` listen, when `OPS_PORT` separates them. */
  opsAddress?: Deno.NetAddr;
  /** The event store the service commits to. */
  store: EventStore;
  /** The service's metrics, as `/metrics` renders them. */
  metrics: ServiceMetrics;
  /** The relay; absent in embedded mode. */
  relay?: Relay;
  /** Recovery from Up's logs and transactions; absent without `UP_API_TOKEN`. */
  recovery?: RecoveryService;
  /**
   * Stops in order; resolves when everything is closed.
   *
   * @param options `drainMs`: how long in-flight requests may take (default 10000);
   * `flushMs`: how long the relay may keep publishing (default 5000).
   */
  shutdown(options?: { flushMs?: number; drainMs?: number }): Promise<void>;
}

/**
 * Starts the service.
 *
 * @param config The validated configuration.
 * @param options Logger and listen callback.
 * @returns The running service.
 * @throws {StoreUnavailableError} If the store cannot be opened.
 */
export async function startService(config: Config, options: ServiceOptions): Promise<Service> {
  const { logger } = options;
  const metrics = createMetrics();
  const store = await openEventStore({
    path: `${config.dataDir.replace(/\/+$/, "")}/events.db`,
    onMigrated: ({ from, to, backup }) =>
      logger.info("event store migrated to the new format", { from, to, backup }),
  });
  const ring = await createSecretRing({
    secrets: config.webhookSecrets,
    stateFile: webhookStatePath(config.dataDir),
    readState: async () => webhookSecretsFrom(await readWebhookState(config.dataDir)),
    onStateError: (error) =>
      logger.error("cannot read the webhook state file; keeping the secrets read before", {
        error: error.message,
      }),
  });
  if (ring.size() === 0) {
    logger.warn(
      "no webhook secret yet: every webhook is refused until UP_WEBHOOK_SECRETS is set or `register-webhook` runs",
    );
  }
  metrics.gauge(
    "upbus_relay_backlog",
    "Stored events not yet acknowledged by Kafka",
    () => store.counts().unpublished,
  );
  metrics.gauge(
    "upbus_store_commits",
    "Store commits since start (appends per commit shows group commit at work)",
    () => store.stats().commits,
  );
  metrics.gauge("upbus_events_in_store", "Events in the local store", () => store.counts().total);
  metrics.gauge(
    "upbus_process_cpu_seconds",
    "CPU time of the whole process (every thread) since start",
    () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    },
  );
  metrics.gauge(
    "upbus_process_resident_memory_bytes",
    "Resident memory of the process",
    () => process.memoryUsage.rss(),
  );

  let relay: Relay | undefined;
  if (config.kafkaBrokers.length > 0) {
    relay = startRelayThread(store, {
      brokers: config.kafkaBrokers,
      clientId: config.kafkaClientId,
      connection: config.kafkaConnection,
      topic: config.kafkaTopic,
      partitions: config.kafkaTopicPartitions,
      replicationFactor: config.kafkaReplicationFactor,
      logLevel: config.logLevel,
      logFormat: config.logFormat,
      logger: logger.child({ component: "relay" }),
      metrics,
    });
  } else {
    logger.info(
      "embedded mode: KAFKA_BROKERS is not set, so events are kept in the local store only; set it and restart to publish the backlog",
      { backlog: store.counts().unpublished },
    );
  }

  const separateOps = config.opsPort !== undefined;
  const httpLogger = logger.child({ component: "http" });
  const summaryMs = options.refusalSummaryMs ?? 60_000;
  const refusals = createRefusalLog({ logger: httpLogger, intervalMs: summaryMs });
  const appFor = (routes: "all" | "webhook" | "operations") =>
    createApp({
      store,
      ring,
      metrics,
      logger: httpLogger,
      refusals,
      maxBodyBytes: config.maxBodyBytes,
      kafkaCheck: relay &&
        (() =>
          describeRelay(relay!.status(), {
            backlog: store.counts().unpublished,
            now: Date.now(),
            stallMs: config.relayStallSeconds * 1000,
          })),
      routes,
      checks: options.checks,
    });
  // The public listener: node:http with timeouts and connection caps (lib/webhook/edge.ts says why
  // not Deno.serve). The operations listener is private (loopback) and stays on Deno.serve.
  const server = await inUseSays(
    "PORT",
    config.host,
    config.port,
    () =>
      serveEdge(appFor(separateOps ? "webhook" : "all").fetch, {
        hostname: config.host,
        port: config.port,
        headersTimeoutMs: config.headersTimeoutSeconds * 1000,
        requestTimeoutMs: config.requestTimeoutSeconds * 1000,
        idleTimeoutMs: config.idleTimeoutSeconds * 1000,
        maxConnections: config.maxConnections,
        maxConnectionsPerClient: config.maxConnectionsPerClient,
        onRefusal(reason, fields) {
          metrics.edgeRefused.inc({ reason });
          refusals.record(reason, fields);
        },
      }),
  );
  metrics.gauge(
    "upbus_http_connections",
    "Connections open on the public listener",
    () => server.connections(),
  );
  metrics.gauge(
    "upbus_http_received_bytes",
    "Bytes read from connections to the public listener since start",
    () => server.bytesReceived(),
  );
  let ops: Deno.HttpServer<Deno.NetAddr> | undefined;
  try {
    ops = separateOps
      ? await listen(config.opsHost, config.opsPort!, appFor("operations"), {
        variable: "OPS_PORT",
      })
      : undefined;
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  const summarizing = setInterval(() => refusals.summarize(), summaryMs);
  const address = server.addr;
  logger.info("listening", {
    url: `http://${address.hostname}:${address.port}/webhook`,
    operations: ops ? `http://${ops.addr.hostname}:${ops.addr.port}/metrics` : "same listener",
    mode: relay ? "kafka" : "embedded",
    ...(relay ? { kafka: securityProtocol(config.kafkaConnection) } : {}),
    topic: config.kafkaTopic,
    signingKeys: ring.size(),
  });
  options.onListen?.(address);
  // Recovery starts once the listener takes live deliveries, and never holds it up.
  const recovery: RecoveryService | undefined = config.recovery
    ? await startRecoveryService({ ...config, recovery: config.recovery }, {
      store,
      metrics,
      logger: logger.child({ component: "recovery" }),
    })
    : undefined;

  let stopped: Promise<void> | undefined;
  return {
    address,
    ...(ops ? { opsAddress: ops.addr } : {}),
    store,
    metrics,
    relay,
    ...(recovery ? { recovery } : {}),
    shutdown({ flushMs = 5000, drainMs = 10_000 } = {}) {
      stopped ??= (async () => {
        // In-flight requests finish; a client that holds one open longer does not hold the
        // shutdown: its request gets no 200 unless its event was already committed.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const drained = await Promise.race([
          Promise.all([server.shutdown(), ops?.shutdown()]).then(() => true),
          new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), drainMs)),
        ]);
        clearTimeout(timer);
        if (!drained) {
          logger.warn("requests still open after the drain time; closing anyway");
          server.closeAll();
        }
        clearInterval(summarizing);
        refusals.summarize();
        await recovery?.stop();
        await relay?.stop(flushMs);
        const { unpublished } = store.counts();
        await store.close();
        logger.info("stopped", { unpublished });
      })();
      return stopped;
    },
  };
}

/**
 * Runs `start`, and turns "address in use" (Deno's, or node:http's `EADDRINUSE`) into a message
 * that names the port and `variable`, the setting that moves it.
 */
async function inUseSays<T>(
  variable: string,
  hostname: string,
  port: number,
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const inUse = error instanceof Deno.errors.AddrInUse ||
      (error as { code?: string }).code === "EADDRINUSE";
    if (!inUse) throw error;
    throw new Deno.errors.AddrInUse(
      `Cannot listen on ${hostname}:${port}: the address is in use (another upbus, or another program), set ${variable} to a free port`,
      { cause: error },
    );
  }
}

/**
 * Serves `app` on `hostname:port`; resolves once it listens.
 *
 * @throws {Deno.errors.AddrInUse} If the port is taken: the message names the port and
 * `variable`, the setting that moves it.
 */
async function listen(
  hostname: string,
  port: number,
  app: { fetch: (request: Request) => Response | Promise<Response> },
  options: { variable: string },
): Promise<Deno.HttpServer<Deno.NetAddr> & { addr: Deno.NetAddr }> {
  const { promise: listening, resolve } = Promise.withResolvers<void>();
  let server;
  try {
    server = Deno.serve({ hostname, port, onListen: () => resolve() }, app.fetch);
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    throw new Deno.errors.AddrInUse(
      `Cannot listen on ${hostname}:${port}: the address is in use (another upbus, or another program), set ${options.variable} to a free port`,
      { cause: error },
    );
  }
  await listening;
  return server;
}

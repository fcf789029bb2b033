/**
 * `upbus serve`: runs the webhook service until SIGINT or SIGTERM, then shuts down in order.
 *
 * @module
 */
import { loadConfig } from "../service/config.ts";
import { createLogger } from "../runtime/log.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { assertDataDirAllowed } from "../runtime/data_dir.ts";
import { stopRequested } from "../runtime/stop_signal.ts";

const USAGE = `Usage: upbus serve

Receives Up webhooks on POST /webhook, verifies them, commits them to the local store
and publishes them to Kafka. Configured by environment variables (see .env.example):
  PORT (8080), HOST (0.0.0.0), UP_WEBHOOK_SECRETS, KAFKA_BROKERS (unset: embedded mode),
  KAFKA_TOPIC (up.webhook-events), DATA_DIR (./data), MAX_BODY_BYTES (262144), LOG_LEVEL (info)
  TLS and SASL to Kafka: KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SASL_MECHANISM, ... (docs/kafka.md)
  Public listener limits (docs/edge.md): HEADERS_TIMEOUT_SECONDS (10), REQUEST_TIMEOUT_SECONDS (20),
  IDLE_TIMEOUT_SECONDS (5), MAX_CONNECTIONS (256), MAX_CLIENT_CONNECTIONS (32)

Routes: POST /webhook, GET /healthz, GET /readyz, GET /metrics`;

/** The `serve` command. */
export const serveCommand: Command = {
  name: "serve",
  summary: "receive Up webhooks, store them and publish them to Kafka (default)",
  usage: USAGE,
  async run(args) {
    if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
    const config = loadConfig();
    assertDataDirAllowed(config.dataDir);
    const logger = createLogger({ level: config.logLevel, format: config.logFormat });
    // Loaded here, not at the top: kafkajs reads environment variables as it loads, and the
    // other commands of the CLI have no business granting those.
    const { startService } = await import("../service/service.ts");
    // Listen for signals before starting: a SIGTERM that arrives while the service starts (right
    // after it says "listening", say) must still get the orderly stop, not end the process.
    // A second signal during the shutdown (after deno task's echo of the first) ends the process
    // at once, as users expect of Ctrl-C.
    const signalled = stopRequested();
    const service = await startService(config, { logger });
    const signal = await signalled;
    logger.info("shutting down", { signal });
    await service.shutdown();
    return 0;
  },
};

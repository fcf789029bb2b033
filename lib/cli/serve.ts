/**
 * `upbus serve`: the webhook service (placeholder, being built).
 *
 * @module
 */
import type { Command } from "./command.ts";

/** The `serve` command. */
export const serveCommand: Command = {
  name: "serve",
  summary: "receive Up webhooks, store them and publish them to Kafka (default)",
  usage: "Usage: upbus serve",
  run() {
    return Promise.resolve(1);
  },
};

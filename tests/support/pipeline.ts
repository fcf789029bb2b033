/**
 * @module Pipeline test support
 * An Up simulator answered in process (no port), webhook-event records produced the way the
 * relay produces them, and polling helpers for the enrichment and consumer tests.
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { cloudEventType } from "../../lib/bus/record.ts";
import { ensureTopics } from "../../lib/bus/kafka/topics.ts";
import { createUpClient, type UpClient, type UpClientOptions } from "../../lib/up/client.ts";
import { createUpSimulator, type UpSimulator } from "../../lib/up_sim/app.ts";
import { buildWebhookEvent, encodeWebhookEvent } from "../../lib/up_sim/events.ts";
import type { WebhookEventType } from "../../lib/up/types.ts";

/** A simulator with no port, and an Up client that reaches it through `app.fetch`. */
export interface InProcessUp {
  sim: UpSimulator;
  client: UpClient;
}

/**
 * An Up simulator answered in process, and a client of it.
 *
 * @param options Seeded transactions and client options.
 */
export function inProcessUp(
  options: { seedTransactions?: number; client?: Partial<UpClientOptions> } = {},
): InProcessUp {
  const sim = createUpSimulator({ seedTransactions: options.seedTransactions ?? 0 });
  const client = createUpClient({
    token: sim.token,
    baseUrl: "http://up.test/api/v1",
    fetch: (input, init) => Promise.resolve(sim.app.fetch(new Request(input, init))),
    retryBaseMs: 5,
    retryMaxMs: 20,
    ...options.client,
  });
  return { sim, client };
}

/** A Kafka client that logs nothing. */
export function quietKafka(brokers: string): Kafka {
  return new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });
}

/**
 * Produces webhook events as the relay would: key the transaction id, value the body, and
 * CloudEvents headers.
 *
 * @param kafka The client.
 * @param topic The webhook-events topic.
 * @param events Event type and transaction id of each.
 */
export async function produceWebhookEvents(
  kafka: Kafka,
  topic: string,
  events: Array<{ type: WebhookEventType; transactionId?: string }>,
): Promise<void> {
  // Retried: on a broker that has just started, kafkajs may report a new topic unknown.
  for (let attempt = 1;; attempt++) {
    try {
      await ensureTopics(kafka, [topic]);
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map(({ type, transactionId }) => {
        const event = buildWebhookEvent(type, { webhookId: "wh-test", transactionId });
        const headers: Record<string, string> = {
          ce_id: event.data.id,
          ce_type: cloudEventType(type),
        };
        if (transactionId !== undefined) headers.ce_subject = transactionId;
        return {
          key: transactionId ?? event.data.id,
          value: encodeWebhookEvent(event),
          headers,
        };
      }),
    });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Waits until `check` returns true, polling every 50 ms.
 *
 * @param check The condition.
 * @param what What is awaited, for the timeout's message.
 * @param timeoutMs Default 30 000.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Cannot wait any longer: ${what} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

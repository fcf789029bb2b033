/**
 * An in-process service for route tests: a real store in a temporary directory, real secrets,
 * and a logger whose lines the test can read.
 *
 * @module
 */
import type { Hono } from "hono";
import { createApp } from "../../lib/webhook/app.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { createMetrics, type ServiceMetrics } from "../../lib/runtime/metrics.ts";
import { createSecretRing } from "../../lib/webhook/secret_ring.ts";
import { SIGNATURE_HEADER, signBody } from "../../lib/webhook/signature.ts";
import { type EventStore, openEventStore } from "../../lib/store/event_store.ts";
import {
  readWebhookState,
  webhookSecretsFrom,
  webhookStatePath,
} from "../../lib/up/webhook_state.ts";

export const SECRET = "TIGC3OcKKJOBQ7jClQQ5oLCiDlYPFYsKgKTr";

export interface TestApp {
  app: Hono;
  store: EventStore;
  metrics: ServiceMetrics;
  logs: string[];
  dir: string;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function testApp(
  options: { secrets?: string[]; maxBodyBytes?: number } = {},
): Promise<TestApp> {
  const dir = await Deno.makeTempDir({ prefix: "upbus-app-" });
  const store = await openEventStore({ path: `${dir}/events.db` });
  const metrics = createMetrics();
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => logs.push(line) });
  const ring = await createSecretRing({
    secrets: options.secrets ?? [SECRET],
    stateFile: webhookStatePath(dir),
    readState: async () => webhookSecretsFrom(await readWebhookState(dir)),
  });
  const app = createApp({
    store,
    ring,
    metrics,
    logger,
    maxBodyBytes: options.maxBodyBytes ?? 256 * 1024,
  });
  return {
    app,
    store,
    metrics,
    logs,
    dir,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A POST /webhook request signed with `secret`. */
export async function signedPost(
  body: Uint8Array<ArrayBuffer> | string,
  secret = SECRET,
): Promise<RequestInit> {
  return {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      [SIGNATURE_HEADER]: await signBody(body, secret),
    },
    body,
  };
}

export function readTestdata(file: string): Promise<Uint8Array<ArrayBuffer>> {
  return Deno.readFile(new URL(`../testdata/${file}`, import.meta.url));
}

/** A compact Up webhook event body, as Up sends it. */
export function eventBody(
  fields: { id: string; type: string; transactionId?: string; webhookId?: string },
): string {
  const webhookId = fields.webhookId ?? "cce901e8-e10b-4d4d-a615-f1902e4736d4";
  const base = "https://api.up.com.au/api/v1";
  const relationships: Record<string, unknown> = {
    webhook: {
      data: { type: "webhooks", id: webhookId },
      links: { related: `${base}/webhooks/${webhookId}` },
    },
  };
  if (fields.transactionId !== undefined) {
    relationships.transaction = {
      data: { type: "transactions", id: fields.transactionId },
      links: { related: `${base}/transactions/${fields.transactionId}` },
    };
  }
  return JSON.stringify({
    data: {
      type: "webhook-events",
      id: fields.id,
      attributes: { eventType: fields.type, createdAt: "2024-08-05T12:20:07+10:00" },
      relationships,
    },
  });
}

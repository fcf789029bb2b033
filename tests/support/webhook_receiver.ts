/**
 * Test helper: a tiny HTTP server standing in for upbus's webhook endpoint. It verifies each
 * request's `X-Up-Authenticity-Signature` with `lib/webhook/signature.ts` against the secrets it is
 * given (read on every request, so a test can add one later) and records what arrived.
 *
 * @module
 */
import { importSecret, SIGNATURE_HEADER, verifySignature } from "../../lib/webhook/signature.ts";

/** One request that reached the receiver. */
export interface ReceivedEvent {
  body: string;
  signature: string | null;
  verified: boolean;
  /** What the receiver answered. */
  status: number;
}

/** Options for {@linkcode startReceiver}. */
export interface ReceiverOptions {
  /** The accepted secrets, read on every request. */
  secrets: () => readonly string[];
  /** Statuses to answer the first requests with, in order; then 200 (or 401 if unverified). */
  statuses?: number[];
  /** Wait this long before answering, in milliseconds. Default 0. */
  delayMs?: number;
}

/** A running receiver. */
export interface Receiver {
  /** The webhook URL: `http://127.0.0.1:<port>/webhook`. */
  url: string;
  port: number;
  received: ReceivedEvent[];
  /** Resolves once `count` requests have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts a receiver on a free port.
 *
 * @param options Secrets, scripted statuses and delay.
 * @returns The receiver.
 */
export function startReceiver(options: ReceiverOptions): Receiver {
  const received: ReceivedEvent[] = [];
  const statuses = [...(options.statuses ?? [])];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async function receiveWebhook(request) {
      const raw = new Uint8Array(await request.arrayBuffer());
      const signature = request.headers.get(SIGNATURE_HEADER);
      let verified = false;
      try {
        const keys = await Promise.all(options.secrets().map((secret) => importSecret(secret)));
        if (keys.length > 0) {
          await verifySignature(raw, signature, { keys });
          verified = true;
        }
      } catch {
        verified = false;
      }
      if (options.delayMs) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            resolve();
          }, options.delayMs);
          timers.add(timer);
        });
      }
      const status = statuses.shift() ?? (verified ? 200 : 401);
      received.push({ body: new TextDecoder().decode(raw), signature, verified, status });
      return Response.json({ ok: status === 200, verified }, { status });
    },
  );
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    port,
    received,
    async waitFor(count, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`Cannot wait for ${count} requests: ${received.length} arrived`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    async shutdown() {
      await server.shutdown();
      for (const timer of timers) clearTimeout(timer);
    },
  };
}

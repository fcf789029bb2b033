/**
 * The relay as the service sees it: a worker running {@linkcode startRelay}, woken by each
 * commit of the event store, reporting its status and counts back to this thread.
 *
 * @module
 */
import type { Logger } from "./log.ts";
import type { Increment } from "./metrics.ts";
import type { Relay, RelayStatus } from "./relay.ts";
import type { RelayWorkerConfig, RelayWorkerReply, RelayWorkerRequest } from "./relay_worker.ts";
import type { EventStore } from "./store/event_store.ts";

/** Options for {@linkcode startRelayThread}. */
export interface RelayThreadOptions extends Omit<RelayWorkerConfig, "path"> {
  /** Told if the worker dies. */
  logger: Logger;
  /** Receives the worker's counts. */
  metrics: { published: Increment; publishErrors: Increment };
}

/**
 * Starts the relay in its own worker.
 *
 * @param store The open event store (its file is what the relay reads).
 * @param options Brokers, topic, tuning, logger and metrics.
 * @returns The running relay; stop it on shutdown.
 */
export function startRelayThread(store: EventStore, options: RelayThreadOptions): Relay {
  const { logger, metrics, ...config } = options;
  const worker = new Worker(new URL("./relay_worker.ts", import.meta.url).href, {
    type: "module",
    name: "upbus-relay",
  });
  let status: RelayStatus = { connected: false };
  let nextId = 1;
  let dead: Error | undefined;
  const waiters = new Map<number, { resolve(): void; reject(error: Error): void }>();
  const send = (request: RelayWorkerRequest) => worker.postMessage(request);

  worker.onmessage = (message: MessageEvent<RelayWorkerReply>) => {
    const reply = message.data;
    if (reply.type === "status") status = reply.status;
    else if (reply.type === "published") metrics.published.inc({}, reply.count);
    else if (reply.type === "publishError") metrics.publishErrors.inc();
    else {
      const waiter = waiters.get(reply.id);
      waiters.delete(reply.id);
      if (reply.error === undefined) waiter?.resolve();
      else waiter?.reject(new Error(reply.error));
    }
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    dead = new Error(`Cannot relay to Kafka: the relay worker died (${event.message})`);
    status = { connected: false, lastError: dead.message };
    logger.error("relay worker died; events stay stored and are published after a restart", {
      error: event.message,
    });
    for (const waiter of waiters.values()) waiter.reject(dead);
    waiters.clear();
  };

  function call(
    request: { op: "drained"; timeoutMs: number } | { op: "stop"; flushMs: number },
  ): Promise<void> {
    if (dead !== undefined) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiters.set(id, { resolve, reject });
      send({ ...request, id });
    });
  }

  const unsubscribe = store.onCommit(() => send({ op: "wake" }));
  send({ op: "start", config: { ...config, path: store.path } });

  return {
    status: () => status,
    drained: (timeoutMs = 30_000) => call({ op: "drained", timeoutMs }),
    async stop(flushMs = 5000) {
      unsubscribe();
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          call({ op: "stop", flushMs }).catch(() => {}),
          new Promise<void>((resolve) => timer = setTimeout(resolve, flushMs + 3000)),
        ]);
      } finally {
        clearTimeout(timer);
        worker.terminate();
      }
    },
  };
}

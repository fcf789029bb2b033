/**
 * The relay as the service sees it: a worker running {@linkcode startRelay}, woken by a commit of
 * the event store while it waits for one (a flag both threads share says when: a busy relay
 * costs the commits nothing), reporting its status and counts back to this thread.
 *
 * @module
 */
import type { Logger } from "../runtime/log.ts";
import type { Increment } from "../runtime/metrics.ts";
import { initialRelayStatus, type Relay, type RelayStatus } from "./relay.ts";
import type { RelayWorkerConfig, RelayWorkerReply, RelayWorkerRequest } from "./relay_worker.ts";
import type { EventStore } from "../store/event_store.ts";

/** Options for {@linkcode startRelayThread}. */
export interface RelayThreadOptions extends Omit<RelayWorkerConfig, "path" | "waitFlag"> {
  /** Told if the worker dies. */
  logger: Logger;
  /** Receives the worker's counts, and the wake-ups sent to it (default: not counted). */
  metrics: { published: Increment; publishErrors: Increment; relayWakeups?: Increment };
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
  let status: RelayStatus = initialRelayStatus();
  let nextId = 1;
  let stopping = false;
  let respawnTimer: ReturnType<typeof setTimeout> | undefined;
  const waiters = new Map<number, { resolve(): void; reject(error: Error): void }>();
  // 1 while the relay waits for a commit; a commit then takes it back to 0 and wakes it.
  const waitFlag = new Int32Array(new SharedArrayBuffer(4));
  let worker = spawn();

  /** Starts a worker; if one dies, the next starts a second later (nothing is lost meanwhile:
   * the backlog stays in the store and the new worker begins from it). */
  function spawn(): Worker {
    const fresh = new Worker(new URL("./relay_worker.ts", import.meta.url).href, {
      type: "module",
      name: "upbus-relay",
    });
    fresh.onmessage = (message: MessageEvent<RelayWorkerReply>) => {
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
    fresh.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      fresh.terminate();
      const error = new Error(`Cannot relay to Kafka: the relay worker died (${event.message})`);
      status = {
        ...status,
        state: "unreachable",
        connected: false,
        since: status.state === "unreachable" ? status.since : Date.now(),
        lastError: error.message,
      };
      logger.error("relay worker died; events stay stored, starting a new one in 1 s", {
        error: event.message,
      });
      for (const waiter of waiters.values()) waiter.reject(error);
      waiters.clear();
      if (!stopping) respawnTimer = setTimeout(() => worker = spawn(), 1000);
    };
    Atomics.store(waitFlag, 0, 0);
    fresh.postMessage({ op: "start", config: { ...config, path: store.path, waitFlag } });
    return fresh;
  }

  function call(
    request: { op: "drained"; timeoutMs: number } | { op: "stop"; flushMs: number },
  ): Promise<void> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiters.set(id, { resolve, reject });
      worker.postMessage({ ...request, id } satisfies RelayWorkerRequest);
    });
  }

  const unsubscribe = store.onCommit(() => {
    if (Atomics.exchange(waitFlag, 0, 0) === 1) {
      worker.postMessage({ op: "wake" });
      metrics.relayWakeups?.inc();
    }
  });

  return {
    status: () => status,
    drained: (timeoutMs = 30_000) => call({ op: "drained", timeoutMs }),
    async stop(flushMs = 5000) {
      stopping = true;
      clearTimeout(respawnTimer);
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

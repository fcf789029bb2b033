/**
 * From `simulate` to the dashboard: the Up simulator creates a transaction and delivers its
 * signed webhook to upbus; upbus stores it and (with Kafka) relays it; `enrich` fetches the
 * transaction and publishes it; `consume position` applies it and pushes it to the dashboard's
 * Server-Sent Events stream, where this module notes its arrival. The same path a user watches.
 *
 * Permissions: `--allow-net=127.0.0.1`.
 *
 * @module
 */
import type { SimulatorControl } from "../lib/up_sim/control.ts";

/** The dashboard's event stream, read as it arrives. */
export interface DashboardStream {
  /** Resolves with `performance.now()` of the first chunk that names `text`. */
  seen(text: string, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens the dashboard's `/events` stream.
 *
 * @param dashboardUrl The dashboard's page URL, ending in `/`.
 * @returns The stream.
 */
export async function openDashboardStream(dashboardUrl: string): Promise<DashboardStream> {
  const controller = new AbortController();
  const response = await fetch(`${dashboardUrl}events`, { signal: controller.signal });
  if (!response.ok || response.body === null) {
    throw new Error(`Cannot read the dashboard's events: ${response.status}`);
  }
  let text = "";
  const listeners = new Set<() => void>();
  const reading = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body!) {
        // Keep the tail only: a description is looked for once it is in.
        text = (text + decoder.decode(chunk, { stream: true })).slice(-65_536);
        for (const listener of [...listeners]) listener();
      }
    } catch { /* aborted */ }
  })();
  return {
    seen(wanted, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!text.includes(wanted)) return;
          const at = performance.now();
          listeners.delete(check);
          clearTimeout(timer);
          resolve(at);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new Error(`Cannot measure: "${wanted}" not on the dashboard after ${timeoutMs} ms`),
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async close() {
      controller.abort();
      await reading;
    },
  };
}

/**
 * Creates `count` transactions one after another, each once the previous one is on the
 * dashboard, after one untimed warm-up; returns each one's latency in ms.
 *
 * @param control The simulator's control API.
 * @param stream The dashboard's open event stream.
 * @param count How many to time.
 */
export async function simulateToDashboard(
  control: SimulatorControl,
  stream: DashboardStream,
  count: number,
): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i <= count; i++) {
    const description = `Bench Cafe ${i} ${crypto.randomUUID().slice(0, 8)}`;
    const started = performance.now();
    const seen = stream.seen(description, i === 0 ? 120_000 : 30_000);
    await control.createTransaction({ amount: "-3.50", description });
    const at = await seen;
    if (i > 0) latencies.push(at - started);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return latencies;
}

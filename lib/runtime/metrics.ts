/**
 * Prometheus metrics in the text exposition format (version 0.0.4): counters, gauges read at
 * scrape time, and histograms.
 *
 * @module
 */

/** Label names to values. */
export type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const escape = (value: string) =>
    value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
  return `{${entries.map(([name, value]) => `${name}="${escape(value)}"`).join(",")}}`;
}

/** Anything `/metrics` renders: a counter, a gauge or a histogram. */
export interface Metric {
  /** Its lines of the exposition text, `# HELP` and `# TYPE` first. */
  render(): string[];
}

/** Anything that counts: a {@linkcode Counter}, or a proxy that forwards counts elsewhere. */
export interface Increment {
  /** Adds `amount` (default 1) to the series `labels` (default none). */
  inc(labels?: Labels, amount?: number): void;
}

/** A monotonically increasing count, optionally split by labels. */
export class Counter implements Metric, Increment {
  #values = new Map<string, number>();
  /** Makes a counter named `name` (a Prometheus metric name) described by `help`. */
  constructor(readonly name: string, readonly help: string) {}

  /**
   * Adds to the count.
   *
   * @param labels The series; default none.
   * @param amount How much; default 1.
   */
  inc(labels: Labels = {}, amount = 1): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + amount);
  }

  /**
   * Reads one series.
   *
   * @returns The current count of one series (0 when never increased).
   */
  value(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }

  /** The exposition lines of this counter: `# HELP`, `# TYPE` and one line per series. */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.#values) lines.push(`${this.name}${key} ${value}`);
    return lines;
  }
}

/** A value read when scraped. */
export class Gauge implements Metric {
  /** Makes a gauge named `name` described by `help`, its value `read()` at each scrape. */
  constructor(readonly name: string, readonly help: string, readonly read: () => number) {}

  /** The exposition lines of this gauge, its value read now. */
  render(): string[] {
    let value: number;
    try {
      value = this.read();
    } catch {
      value = NaN;
    }
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} gauge`,
      `${this.name} ${value}`,
    ];
  }
}

/** Observations counted into cumulative buckets. */
export class Histogram implements Metric {
  #counts: number[];
  #sum = 0;
  #count = 0;
  /** Makes a histogram named `name` described by `help`, with ascending upper `buckets`. */
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {
    this.#counts = buckets.map(() => 0);
  }

  /**
   * Counts one observation into every bucket it fits and into the sum and count.
   *
   * @param value One observation (seconds, for latencies).
   */
  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    this.buckets.forEach((bound, index) => {
      if (value <= bound) this.#counts[index]++;
    });
  }

  /** The exposition lines of this histogram: cumulative buckets, then `_sum` and `_count`. */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((bound, index) =>
      lines.push(`${this.name}_bucket{le="${bound}"} ${this.#counts[index]}`)
    );
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines;
  }
}

/** Every metric upbus exports. */
export interface ServiceMetrics {
  /** `upbus_webhooks_received_total`: webhook requests received. */
  received: Counter;
  /** `upbus_webhooks_rejected_total`: webhook requests refused, by `reason`. */
  rejected: Counter;
  /** Connections and requests the public listener refused before the app saw a request. */
  edgeRefused: Counter;
  /** `upbus_events_stored_total`: events committed to the store. */
  stored: Counter;
  /** `upbus_events_duplicate_total`: deliveries of an event id already stored (Up's retries). */
  duplicates: Counter;
  /** `upbus_events_dead_letter_total`: authentic bodies that are not valid events. */
  deadLetters: Counter;
  /** `upbus_events_published_total`: events the bus acknowledged. */
  published: Counter;
  /** `upbus_publish_errors_total`: failed attempts to publish. */
  publishErrors: Counter;
  /** `upbus_relay_wakeups_total`: store commits that woke the relay while it waited for one (a
   * busy relay is not woken: it reads the store again when its send is done). */
  relayWakeups: Counter;
  /** `upbus_webhook_request_duration_seconds`: time from request to response of `POST /webhook`. */
  requestSeconds: Histogram;
  /** Registers a gauge, read at scrape time. */
  gauge(name: string, help: string, read: () => number): void;
  /** Registers a counter of another part (recovery's), rendered with the rest. */
  counter(name: string, help: string): Counter;
  /** Registers the exposition text of another part (a stage of `upbus run`), read at scrape time. */
  text(render: () => string): void;
  /** The whole exposition text. */
  render(): string;
}

/**
 * Creates upbus's metrics.
 *
 * @returns Fresh counters and histogram, and a renderer.
 *
 * @example
 * ```ts
 * import { createMetrics } from "./metrics.ts";
 * const metrics = createMetrics();
 * metrics.rejected.inc({ reason: "mismatch" });
 * if (!metrics.render().includes('upbus_webhooks_rejected_total{reason="mismatch"} 1')) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function createMetrics(): ServiceMetrics {
  const all: Metric[] = [];
  const add = <M extends Metric>(metric: M): M => (all.push(metric), metric);
  return {
    received: add(new Counter("upbus_webhooks_received_total", "Webhook requests received")),
    rejected: add(
      new Counter("upbus_webhooks_rejected_total", "Webhook requests refused, by reason"),
    ),
    edgeRefused: add(
      new Counter(
        "upbus_http_refused_total",
        "Connections and requests the public listener refused before the app, by reason",
      ),
    ),
    stored: add(new Counter("upbus_events_stored_total", "Events committed to the store")),
    duplicates: add(
      new Counter("upbus_events_duplicate_total", "Deliveries of an event id already stored"),
    ),
    deadLetters: add(
      new Counter("upbus_events_dead_letter_total", "Authentic bodies that are not valid events"),
    ),
    published: add(new Counter("upbus_events_published_total", "Events acknowledged by Kafka")),
    publishErrors: add(
      new Counter("upbus_publish_errors_total", "Failed attempts to publish to Kafka"),
    ),
    relayWakeups: add(
      new Counter(
        "upbus_relay_wakeups_total",
        "Store commits that woke the relay while it waited for one",
      ),
    ),
    requestSeconds: add(
      new Histogram(
        "upbus_webhook_request_duration_seconds",
        "Time from request to response for POST /webhook",
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ),
    ),
    gauge: (name, help, read) => void add(new Gauge(name, help, read)),
    counter: (name, help) => add(new Counter(name, help)),
    text: (render) => void add({ render: () => [render().replace(/\n$/, "")].filter(Boolean) }),
    render: () => all.flatMap((metric) => metric.render()).join("\n") + "\n",
  };
}

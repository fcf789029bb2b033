/**
 * @module Consumer
 * The shape of an upbus consumer: a name, a topic and a handler, plus the message it receives.
 */

/** One Kafka record as a handler receives it: key and headers decoded, value as bytes. */
export interface ConsumerMessage {
  /** The topic it was read from. */
  topic: string;
  /** Its partition. */
  partition: number;
  /** Its offset, a decimal string (Kafka offsets are 64-bit). */
  offset: string;
  /** The key as UTF-8 text, or `null`. For `up.transactions`, the transaction id. */
  key: string | null;
  /** The value bytes, or `null` for a tombstone. */
  value: Uint8Array | null;
  /** Headers as UTF-8 text. */
  headers: Record<string, string>;
  /** The record's timestamp, epoch milliseconds as a string. */
  timestamp: string;
}

/** A consumer: what `deno task consume <name>` runs. */
export interface Consumer {
  /** Its name: the `consume` argument and the consumer group's suffix (`upbus-<name>`). */
  name: string;
  /** The topic it reads. */
  topic: string;
  /**
   * Handles one record. The offset is committed only after it resolves; when it throws, the
   * partition is paused and the same record is handled again after a backoff.
   */
  handle(message: ConsumerMessage): void | Promise<void>;
  /**
   * Whether to read the whole topic from the beginning on every start and commit nothing, for
   * consumers that rebuild their state in memory. Default `false`: a consumer group that
   * resumes from its committed offsets.
   */
  replay?: boolean;
  /** Where a new group starts: `true` for the beginning of the topic. Default `true`. */
  fromBeginning?: boolean;
  /**
   * Start at the end of the topic whatever the group's position, and commit it: what came while
   * it was stopped is skipped (`consume console --last N` prints the last N instead). Default
   * `false`: a group resumes where it was.
   */
  startAtEnd?: boolean;
  /** Releases what the consumer holds (files, servers, timers); called once on stop. */
  close?(): void | Promise<void>;
  /** Prometheus text of its own figures (the position's gauges), for `upbus run`'s `/metrics`. */
  metrics?(): string;
}

/**
 * Thrown by a handler when the consumer cannot go on in this run (handling the record again in
 * the same run cannot help): the runner stops delivering, commits nothing for the record in hand
 * and resolves `failed`; whoever runs it (the stage supervisor of `upbus run`) starts the
 * consumer again, which gets the same record again. Any other error is retried in place.
 *
 * @example
 * ```ts
 * import { ConsumerFailure } from "./consumer.ts";
 * const failure = new ConsumerFailure("Cannot notify: the outbox is corrupt");
 * if (failure.name !== "ConsumerFailure") throw new Error("unexpected");
 * ```
 */
export class ConsumerFailure extends Error {
  /**
   * A failure the runner reports as the consumer's end.
   *
   * @param message What failed, "action: state".
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConsumerFailure";
  }
}

/**
 * The value of a record as JSON, or `null` for a tombstone.
 *
 * @param message The record.
 * @returns The parsed value.
 * @throws {SyntaxError} If the value is not JSON.
 *
 * @example
 * ```ts
 * import { jsonValue } from "./consumer.ts";
 * const value = new TextEncoder().encode('{"a":1}');
 * const message = { topic: "t", partition: 0, offset: "0", key: null, value, headers: {}, timestamp: "0" };
 * if ((jsonValue(message) as { a: number }).a !== 1) throw new Error("unexpected");
 * ```
 */
export function jsonValue(message: ConsumerMessage): unknown {
  return message.value === null ? null : JSON.parse(new TextDecoder().decode(message.value));
}

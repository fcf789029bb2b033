/**
 * @module Record source
 * The seam between consumers and the two modes: a {@linkcode RecordSource} delivers a topic's
 * records, in order per partition, to one handler, and commits a record's position only after
 * the handler said it is done. Kafka (`lib/bus/kafka/record_source.ts`) and the local log
 * (`lib/bus/local/local_log_source.ts`) implement it; the runner (`runner.ts`) and every consumer are
 * written once against it.
 */
import type { Logger } from "../runtime/log.ts";
import type { ConsumerMessage } from "./consumer.ts";

/** What a source offers a handler while it holds a record. */
export interface HandleControl {
  /** Whether the record is still this handler's to finish: false once stopping (or, in Kafka, after a rebalance). */
  active(): boolean;
  /** Tells the source the handler is alive during a long retry (Kafka heartbeats; a no-op locally). */
  heartbeat(): Promise<void>;
}

/**
 * Handles one record until done. Resolves `true` when it is done (its position may be committed),
 * `false` when it was abandoned (stopping): the source then commits nothing for it and stops
 * delivering.
 */
export type RecordHandler = (message: ConsumerMessage, control: HandleControl) => Promise<boolean>;

/** Options for {@linkcode RecordSource.subscribe}. */
export interface SubscribeOptions {
  /** The topic to read. */
  topic: string;
  /** The group whose committed position is resumed from and advanced. */
  groupId: string;
  /** Read from the beginning on every start and commit nothing. */
  replay: boolean;
  /** Where a group with no committed position starts: `true` for the beginning. */
  fromBeginning: boolean;
  /** Start at the end whatever the group's position, and commit it. Default `false`. */
  startAtEnd?: boolean;
  /** Where failures are told. Default nowhere. */
  logger?: Logger;
}

/** A running subscription. */
export interface Subscription {
  /**
   * Where it started reading, in words for the log: "from the beginning", "from the end: new
   * records only", "from its committed position", or why it waits.
   */
  readonly start: string;
  /** Stops delivering (after the record in hand) and releases the connection. */
  stop(): Promise<void>;
}

/** Where consumers read records from: Kafka, or the local log in embedded mode. */
export interface RecordSource {
  /** Which mode, for logs: `kafka` or `local`. */
  readonly kind: string;
  /**
   * Starts delivering records to `handle`. Resolves once it reads.
   *
   * @throws {Error} If the source cannot be reached or the topic cannot be read.
   */
  subscribe(handle: RecordHandler, options: SubscribeOptions): Promise<Subscription>;
  /** A topic's end offsets now, by partition: what a replaying consumer must reach. */
  endOffsets(topic: string): Promise<Record<number, string>>;
  /** The end offsets of the partitions `groupId` has not read to the end: what it must reach to
   * have caught up (empty when it has). */
  unreadEndOffsets(topic: string, groupId: string): Promise<Record<number, string>>;
}

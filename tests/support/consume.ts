/**
 * Reading records back from a topic, two independent ways: kafkajs in a consumer group, and
 * Debian's `kcat` (librdkafka), which shares no code with upbus.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Kafka, logLevel } from "kafkajs";

/** One record as read back. */
export interface ReadRecord {
  key: string | null;
  value: Uint8Array | null;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

/**
 * Consumes a topic from the beginning in a fresh consumer group until `count` records arrived.
 *
 * @param brokers Bootstrap string.
 * @param topic The topic.
 * @param options `count` to wait for, `timeoutMs` (default 60000).
 */
export async function consumeWithKafkajs(
  brokers: string,
  topic: string,
  options: { count: number; timeoutMs?: number },
): Promise<ReadRecord[]> {
  const kafka = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `upbus-test-${crypto.randomUUID()}` });
  const records: ReadRecord[] = [];
  const { promise: enough, resolve } = Promise.withResolvers<void>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message, partition }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) {
          headers[name] = Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
        }
        records.push({
          key: message.key?.toString("utf8") ?? null,
          value: message.value === null ? null : new Uint8Array(message.value),
          headers,
          partition,
          offset: message.offset,
        });
        if (records.length >= options.count) resolve();
        return Promise.resolve();
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`only ${records.length} of ${options.count} records arrived`)),
        options.timeoutMs ?? 60_000,
      );
    });
    try {
      await Promise.race([enough, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return records;
  } finally {
    await consumer.disconnect();
  }
}

/** One record as kcat's JSON envelope (`-J`) gives it. */
export interface KcatRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

/**
 * Reads a whole topic with `kcat -C -J -e`.
 *
 * @param brokers Bootstrap string.
 * @param topic The topic.
 * @param options `config`: librdkafka properties passed with `-X` (TLS, SASL); default none.
 */
export async function consumeWithKcat(
  brokers: string,
  topic: string,
  options: { config?: Record<string, string> } = {},
): Promise<KcatRecord[]> {
  const config = Object.entries(options.config ?? {}).flatMap(([key, value]) => [
    "-X",
    `${key}=${value}`,
  ]);
  const output = await new Deno.Command("kcat", {
    args: ["-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-J", "-q", ...config],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`kcat failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout).split("\n").filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

/** kcat's `headers` array (`[name, value, name, value, ...]`) as an object. */
export function kcatHeaders(record: KcatRecord): Record<string, string> {
  const headers: Record<string, string> = {};
  const flat = record.headers ?? [];
  for (let i = 0; i < flat.length; i += 2) headers[flat[i]] = flat[i + 1];
  return headers;
}

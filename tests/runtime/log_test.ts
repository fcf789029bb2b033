/**
 * Log lines for people and machines: text on a terminal (or `LOG_FORMAT=text`), JSON lines
 * otherwise; kafkajs's lines folded into upbus's (one line when a broker is lost, one when it
 * is back, no stack traces, no second timestamp, no `TimeoutNegativeWarning`), checked on a real
 * consumer process against a real broker that is stopped and started again.
 *
 * Permissions: as the test task (`--allow-run=deno,java`, loopback, the env of a `deno` child).
 */
import assert from "node:assert/strict";
import { logLevel } from "kafkajs";
import { loadConfig } from "../../lib/service/config.ts";
import { kafkaLogRouter } from "../../lib/bus/kafka/log_creator.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { startTestBroker } from "../support/kafka.ts";
import { serviceDataDir } from "../support/service_process.ts";
import { startUpbus } from "../support/upbus_program.ts";

Deno.test("a text line is the local time, the level and the facts; JSON keeps one time", () => {
  const lines: string[] = [];
  const now = () => new Date(2026, 11, 1, 9, 5, 7);
  const write = (line: string) => lines.push(line);
  createLogger({ format: "text", write, now }).info("listening", {
    url: "http://127.0.0.1:8080/webhook",
    note: "two words",
    token: "up:yeah:secret",
  });
  createLogger({ format: "json", write, now }).child({ component: "relay" }).warn("slow");
  assert.equal(
    lines[0],
    '09:05:07 INFO  listening url=http://127.0.0.1:8080/webhook note="two words" token=[redacted]',
  );
  const json = JSON.parse(lines[1]);
  assert.deepEqual(Object.keys(json), ["time", "level", "msg", "component"]);
});

Deno.test("LOG_FORMAT chooses text or json, and anything else is refused by name", () => {
  assert.equal(
    loadConfig((name) => ({ LOG_FORMAT: "TEXT" } as Record<string, string>)[name])
      .logFormat,
    "text",
  );
  assert.equal(loadConfig(() => undefined).logFormat, undefined);
  assert.throws(
    () => loadConfig((name) => ({ LOG_FORMAT: "yaml" } as Record<string, string>)[name]),
    /LOG_FORMAT is "yaml", expected one of text, json/,
  );
});

Deno.test("kafkajs lines: one warning for an outage, one line when it ends, no stacks", () => {
  const lines: Array<Record<string, unknown>> = [];
  const levels: number[] = [];
  let clock = 1_000;
  const router = kafkaLogRouter(
    createLogger({ format: "json", level: "debug", write: (line) => lines.push(JSON.parse(line)) }),
    { now: () => clock },
  );
  router.attach({ setLogLevel: (level) => levels.push(level) });
  const log = router.logCreator(logLevel.INFO);
  const line = (level: logLevel, message: string, extra: Record<string, unknown> = {}) =>
    log({
      namespace: "Connection",
      level,
      label: logLevel[level],
      log: {
        timestamp: "2026-12-01T00:00:00.000Z",
        logger: "kafkajs",
        message,
        broker: "127.0.0.1:9092",
        ...extra,
      },
    });
  line(logLevel.ERROR, "Response Metadata(key: 3, version: 6)", { error: "unknown topic" });
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, "debug", "a broker's error answer is kafkajs's to handle");
  assert.equal(lines[0].msg, "kafkajs: Response Metadata(key: 3, version: 6)");
  assert.equal(lines[0].timestamp, undefined);
  line(logLevel.ERROR, "Failed to execute listener: boom");
  assert.equal(lines.length, 2);
  assert.equal(lines[1].level, "warn", "an error kafkajs does not recover from is a warning");
  for (let attempt = 0; attempt < 40; attempt++) {
    line(logLevel.ERROR, "Connection error: connect ECONNREFUSED 127.0.0.1:9092", {
      stack: "Error: connect ECONNREFUSED\n    at ...",
    });
    line(logLevel.ERROR, "Crash: KafkaJSNumberOfRetriesExceeded: Connection error");
    line(logLevel.DEBUG, "Connecting");
  }
  assert.equal(lines.length, 3, lines.map((entry) => entry.msg).join("\n"));
  assert.equal(lines[2].level, "warn");
  assert.match(String(lines[2].msg), /^cannot reach Kafka/);
  assert.equal(lines[2].stack, undefined);
  assert.ok(router.down);
  assert.deepEqual(levels, [logLevel.DEBUG], "kafkajs speaks up to show the first answer");
  clock += 12_340;
  line(logLevel.DEBUG, "Response ApiVersions(key: 18, version: 2)");
  line(logLevel.DEBUG, "Response Metadata(key: 3, version: 6)");
  assert.equal(lines.length, 4);
  assert.equal(lines[3].msg, "Kafka answers again");
  assert.equal(lines[3].downFor, "12.3 s");
  assert.equal(lines[3].linesFolded, 79);
  assert.deepEqual(levels, [logLevel.DEBUG, logLevel.INFO]);
  assert.ok(!router.down);
});

Deno.test("a consumer crash kafkajs restarts from is a debug line; one it does not is a warning", async () => {
  const lines: Array<Record<string, unknown>> = [];
  const router = kafkaLogRouter(
    createLogger({ format: "json", write: (line) => lines.push(JSON.parse(line)) }),
    { restartNoticeMs: 50 },
  );
  const log = router.logCreator(logLevel.INFO);
  const error = (message: string, groupId: string) =>
    log({
      namespace: "Consumer",
      level: logLevel.ERROR,
      label: "ERROR",
      log: { timestamp: "", logger: "kafkajs", message, groupId },
    });
  error("Crash: KafkaJSProtocolError: The coordinator is loading", "upbus-position");
  error("Restarting the consumer in 300ms", "upbus-position");
  error("Crash: KafkaJSNonRetriableError: Topic authorization failed", "upbus-ledger");
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.deepEqual(lines.map((line) => [line.level, line.groupId]), [["warn", "upbus-ledger"]]);
  assert.match(String(lines[0].msg), /^kafkajs: the consumer stopped after Crash: /);
});

Deno.test("a consumer whose broker stops and starts again writes two lines about it, no stacks and no TimeoutNegativeWarning", async () => {
  await using broker = await startTestBroker();
  const dataDir = await serviceDataDir();
  const [consumer] = await startUpbus(
    { command: "deno", prefix: ["run", "-P=consume", "--no-prompt", "main.ts"] },
    ["consume", "console"],
    {
      env: { KAFKA_BROKERS: broker.bootstrap, DATA_DIR: dataDir, LOG_FORMAT: "json" },
      ready: (_line, log) => log?.msg === "consumer running" ? true : undefined,
    },
  );
  try {
    await broker.stop();
    // kafkajs retries every few hundred milliseconds: 8 s is dozens of attempts.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    await broker.start();
    const deadline = Date.now() + 90_000;
    while (!consumer.logs.some((log) => log.msg === "Kafka answers again")) {
      assert.ok(Date.now() < deadline, `no line says Kafka is back:\n${consumer.err.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    const { code } = await consumer.stop("SIGTERM");
    assert.equal(code, 0, consumer.err.join("\n"));
    await Deno.remove(dataDir, { recursive: true });
  }
  const text = consumer.err.join("\n");
  assert.doesNotMatch(text, /TimeoutNegativeWarning/);
  assert.doesNotMatch(text, /"stack"|\n\s+at /);
  assert.ok(
    consumer.logs.length ===
      consumer.err.length -
        consumer.err.filter((line) => line.startsWith("Warning Permissions")).length,
    `every line is a JSON log line:\n${text}`,
  );
  for (const log of consumer.logs) assert.equal(log.timestamp, undefined, JSON.stringify(log));
  const lost = consumer.logs.filter((log) => String(log.msg).startsWith("cannot reach Kafka"));
  assert.equal(lost.length, 1, text);
  const back = consumer.logs.find((log) => log.msg === "Kafka answers again")!;
  assert.match(String(back.downFor), /^\d+\.\d s$/);
  assert.ok(parseFloat(String(back.downFor)) >= 8, `down for ${back.downFor}`);
  const warnings = consumer.logs.filter((log) => log.level === "warn" || log.level === "error");
  assert.ok(warnings.length <= 3, `${warnings.length} warnings:\n${text}`);
});

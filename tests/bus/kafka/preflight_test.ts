/**
 * The connection check of `enrich`, `consume` and `backfill` when no broker answers yet: not a
 * reason to stop at once (a broker may be starting), so the command goes on with its own retries,
 * and when it gives up its last line names the setting. kafkajs's retries stay at warn without
 * stack traces.
 */
import assert from "node:assert/strict";
import { runUpbus, type UpbusProgram } from "../../support/upbus_program.ts";

const ENRICH: UpbusProgram = {
  command: "deno",
  prefix: ["run", "-P=enrich", "--no-prompt", "main.ts"],
};

function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("enrich with no broker listening goes on retrying, then ends with one line naming KAFKA_BROKERS", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "upbus-preflight-" });
  const broker = `127.0.0.1:${closedPort()}`;
  try {
    const run = await runUpbus(ENRICH, ["enrich"], {
      env: { DATA_DIR: dataDir, KAFKA_BROKERS: broker, UP_API_TOKEN: "up:yeah:not-used" },
    });
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trim().split("\n");
    const json = lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
    assert.deepEqual(
      json.filter((line) => line.msg.startsWith("Kafka not reachable yet")).map((line) =>
        line.error
      ),
      [
        `Cannot connect to Kafka at ${broker}: nothing accepts connections there: check KAFKA_BROKERS and that the broker runs`,
      ],
    );
    assert.ok(
      json.some((line) => /^(kafkajs:|cannot reach Kafka)/.test(line.msg)),
      "the command did retry",
    );
    assert.deepEqual(json.filter((line) => line.level !== "debug" && "stack" in line), []);
    assert.match(
      lines.at(-1)!,
      /^upbus enrich: Cannot connect to Kafka: nothing accepts connections there: check KAFKA_BROKERS and that the broker runs \(.*ECONNREFUSED.*\)$/,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

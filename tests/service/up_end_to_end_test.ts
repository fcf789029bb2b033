/**
 * The "Done when", end to end in process: with the Up simulator running,
 * `register-webhook --url` then `simulate transaction-created` deliver verified events into the
 * real upbus service (embedded mode: the local store), with no secret copied by hand.
 */
import assert from "node:assert/strict";
import { createRegisterWebhookCommand } from "../../lib/cli/register_webhook.ts";
import { createSimulateCommand } from "../../lib/cli/simulate.ts";
import { loadConfig } from "../../lib/service/config.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { startService } from "../../lib/service/service.ts";
import { serveUpSimulator } from "../../lib/up_sim/server.ts";

const TOKEN = "up:sim:end-to-end";

Deno.test("register-webhook then simulate deliver verified events into the real upbus server", async () => {
  const dataDir = await Deno.makeTempDir();
  const sim = serveUpSimulator({ port: 0, token: TOKEN, retryDelaysMs: [50, 100, 200] });
  const logs: string[] = [];
  const service = await startService(
    loadConfig((name) => ({ PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir })[name as string]),
    { logger: createLogger({ write: (line) => logs.push(line) }) },
  );
  try {
    const url = `http://127.0.0.1:${service.address.port}/webhook`;
    const env: Record<string, string> = {
      UP_API_BASE: sim.baseUrl,
      UP_API_TOKEN: TOKEN,
      DATA_DIR: dataDir,
    };
    const context = {
      env: (name: string) => env[name],
      out: () => {},
      err: (line: string) => logs.push(line),
      stopped: () => Promise.resolve("test"),
    };
    const register = createRegisterWebhookCommand({ ...context, pollMs: 20 });
    assert.equal(await register.run(["--url", url, "--timeout", "10"]), 0, logs.join("\n"));
    const simulate = createSimulateCommand(context);
    assert.equal(await simulate.run(["transaction-created"]), 0, logs.join("\n"));
    assert.equal(service.store.counts().total, 2);
    const accepted = logs.filter((line) => line.includes('"webhook event accepted"'));
    assert.ok(accepted.some((line) => line.includes('"type":"PING"')), logs.join("\n"));
    assert.ok(accepted.some((line) => line.includes('"type":"TRANSACTION_CREATED"')));
  } finally {
    await service.shutdown();
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

/**
 * Tests of `upbus register-webhook`, end to end against the Up simulator on a real port and a
 * local receiver that verifies signatures with the secrets of the state file, as the server does.
 */
import assert from "node:assert/strict";
import { createRegisterWebhookCommand, type NgrokModule } from "../../lib/cli/register_webhook.ts";
import { createUpClient } from "../../lib/up/client.ts";
import { type ServedUpSimulator, serveUpSimulator } from "../../lib/up_sim/server.ts";
import {
  readWebhookState,
  webhookSecretsFrom,
  webhookStatePath,
} from "../../lib/up/webhook_state.ts";
import { type Receiver, startReceiver } from "../support/webhook_receiver.ts";

const TOKEN = "up:sim:register-webhook-test";

/** The secrets of the state file, read on every request like the server's reload. */
function stateSecrets(dataDir: string): () => string[] {
  return () => {
    try {
      const state = JSON.parse(Deno.readTextFileSync(webhookStatePath(dataDir)));
      return webhookSecretsFrom(state);
    } catch {
      return [];
    }
  };
}

interface Run {
  code: number;
  out: string[];
  err: string[];
}

interface Fixture {
  sim: ServedUpSimulator;
  receiver: Receiver;
  dataDir: string;
  requests: string[];
  run(args: string[], env?: Record<string, string | undefined>, extra?: object): Promise<Run>;
  close(): Promise<void>;
}

async function fixture(
  options: { retryDelaysMs?: number[]; receiverSecrets?: () => string[] } = {},
): Promise<Fixture> {
  const dataDir = await Deno.makeTempDir();
  const sim = serveUpSimulator({
    port: 0,
    token: TOKEN,
    retryDelaysMs: options.retryDelaysMs ?? [20, 20, 20],
  });
  const receiver = startReceiver({ secrets: options.receiverSecrets ?? stateSecrets(dataDir) });
  const requests: string[] = [];
  return {
    sim,
    receiver,
    dataDir,
    requests,
    async run(args, env = {}, extra = {}) {
      const values: Record<string, string | undefined> = {
        UP_API_BASE: sim.baseUrl,
        UP_API_TOKEN: TOKEN,
        DATA_DIR: dataDir,
        ...env,
      };
      const out: string[] = [];
      const err: string[] = [];
      const command = createRegisterWebhookCommand({
        env: (name) => values[name],
        fetch: (input, init) => {
          const request = new Request(input, init);
          requests.push(`${request.method} ${new URL(request.url).pathname}`);
          return fetch(request);
        },
        out: (line) => out.push(line),
        err: (line) => err.push(line),
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20))),
        stopped: () => Promise.resolve("test"),
        pollMs: 20,
        ngrokAgentApi: "http://127.0.0.1:9",
        ...extra,
      });
      const code = await command.run(args);
      return { code, out, err };
    },
    async close() {
      await sim.shutdown();
      await receiver.shutdown();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

function assertNoSecret(run: Run, secrets: string[]) {
  const text = [...run.out, ...run.err].join("\n");
  for (const secret of secrets) assert.ok(!text.includes(secret), "a secret was printed");
}

Deno.test("register-webhook --url registers, keeps the secret 0600 and sees the PING verified", async (t) => {
  const f = await fixture();
  try {
    const up = createUpClient({ token: TOKEN, baseUrl: f.sim.baseUrl });
    let first = "";

    await t.step(
      "the first run creates the webhook and the PING reaches the receiver",
      async () => {
        const run = await f.run(["--url", f.receiver.url, "--timeout", "5"]);
        assert.equal(run.code, 0, run.err.join("\n"));
        const state = await readWebhookState(f.dataDir);
        assert.equal(state.webhooks.length, 1);
        first = state.webhooks[0].id;
        assert.equal(state.webhooks[0].url, f.receiver.url);
        assert.equal(state.webhooks[0].description, "upbus");
        assert.equal((await Deno.stat(webhookStatePath(f.dataDir))).mode! & 0o777, 0o600);
        const ping = f.receiver.received.find((arrival) => arrival.body.includes('"PING"'));
        assert.ok(ping?.verified, "the PING arrived and verified");
        assert.ok(run.out.some((line) => line.startsWith("✓ PING delivered")));
        assertNoSecret(run, webhookSecretsFrom(state));
      },
    );

    await t.step(
      "a second run for the same URL rotates: new webhook first, then the old one goes",
      async () => {
        f.requests.length = 0;
        const run = await f.run(["--url", f.receiver.url, "--timeout", "5"]);
        assert.equal(run.code, 0, run.err.join("\n"));
        const state = await readWebhookState(f.dataDir);
        assert.equal(state.webhooks.length, 1);
        assert.notEqual(state.webhooks[0].id, first);
        const remaining = [];
        for await (const webhook of up.webhooks.list()) remaining.push(webhook.id);
        assert.deepEqual(remaining, [state.webhooks[0].id]);
        const created = f.requests.indexOf("POST /api/v1/webhooks");
        const deleted = f.requests.indexOf(`DELETE /api/v1/webhooks/${first}`);
        assert.ok(created >= 0 && deleted > created, f.requests.join("\n"));
        assert.ok(run.out.some((line) => line.includes("Secret rotated")));
        assertNoSecret(run, webhookSecretsFrom(state));
      },
    );

    await t.step(
      "--replace deletes upbus's webhooks for stale URLs and leaves others alone",
      async () => {
        const foreign = await up.webhooks.create({ url: "http://127.0.0.1:9/not-upbus" });
        const stale = (await readWebhookState(f.dataDir)).webhooks[0];
        const newUrl = `${f.receiver.url}?v=2`;
        const run = await f.run(["--url", newUrl, "--replace", "--timeout", "5"]);
        assert.equal(run.code, 0, run.err.join("\n"));
        const state = await readWebhookState(f.dataDir);
        assert.deepEqual(state.webhooks.map((entry) => entry.url), [newUrl]);
        const remaining = [];
        for await (const webhook of up.webhooks.list()) remaining.push(webhook.id);
        assert.ok(!remaining.includes(stale.id));
        assert.ok(remaining.includes(foreign.id));
        assert.ok(remaining.includes(state.webhooks[0].id));
      },
    );

    await t.step("without --replace, webhooks for other URLs are kept", async () => {
      const run = await f.run(["--url", `${f.receiver.url}?v=3`, "--timeout", "5"]);
      assert.equal(run.code, 0, run.err.join("\n"));
      const state = await readWebhookState(f.dataDir);
      assert.equal(state.webhooks.length, 2);
    });
  } finally {
    await f.close();
  }
});

Deno.test("register-webhook reports a PING that was not delivered with the log's status", async () => {
  const f = await fixture({ retryDelaysMs: [], receiverSecrets: () => [] });
  try {
    const run = await f.run(["--url", f.receiver.url, "--timeout", "1"]);
    assert.equal(run.code, 1);
    const line = run.out.find((candidate) => candidate.startsWith("✗ The PING did not reach"));
    assert.ok(line, run.out.join("\n"));
    assert.match(line, /BAD_RESPONSE_CODE: HTTP 401 \{"ok":false,"verified":false\}/);
    assert.equal((await readWebhookState(f.dataDir)).webhooks.length, 1);
  } finally {
    await f.close();
  }
});

Deno.test("register-webhook fails clearly on a wrong token, an unreachable API or no token", async (t) => {
  const f = await fixture();
  try {
    await t.step("a wrong token: exit 1, says so, never prints it", async () => {
      const wrong = "up:yeah:definitely-wrong-token";
      const run = await f.run(["--url", f.receiver.url], { UP_API_TOKEN: wrong });
      assert.equal(run.code, 1);
      assert.deepEqual(run.err, [
        "upbus register-webhook: Cannot check the token: the token was rejected (HTTP 401), check UP_API_TOKEN",
      ]);
      assert.ok(![...run.out, ...run.err].join("\n").includes(wrong));
      assert.equal((await readWebhookState(f.dataDir)).webhooks.length, 0);
    });

    await t.step("an unreachable API: exit 1, names the host", async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const run = await f.run(["--url", f.receiver.url], {
        UP_API_BASE: `http://127.0.0.1:${port}/api/v1`,
      });
      assert.equal(run.code, 1);
      const unreachable =
        `upbus register-webhook: Cannot check the token: 127.0.0.1:${port} is unreachable`;
      // A refused connection is not retried by a command a person typed (issue 20.12).
      assert.equal(run.err.length, 1, run.err.join("\n"));
      assert.ok(run.err[0].startsWith(unreachable), run.err[0]);
      assert.doesNotMatch(run.err[0], /retrying/);
      assert.ok(!run.err.join("\n").includes(TOKEN));
    });

    await t.step("no UP_API_TOKEN: exit 1, names the variable", async () => {
      const run = await f.run(["--url", f.receiver.url], { UP_API_TOKEN: undefined });
      assert.equal(run.code, 1);
      assert.match(run.err[0], /UP_API_TOKEN is not set/);
    });

    await t.step("a URL over 300 characters is refused before anything is created", async () => {
      const run = await f.run(["--url", `https://example.test/${"a".repeat(300)}`]);
      assert.equal(run.code, 1);
      assert.match(run.err[0], /at most 300 are allowed/);
    });
  } finally {
    await f.close();
  }
});

Deno.test("register-webhook finds a public URL from an ngrok agent or says what to do", async (t) => {
  const f = await fixture();
  const agent = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      Response.json({
        tunnels: [
          {
            public_url: "https://other.ngrok.app",
            proto: "https",
            config: { addr: "http://localhost:3000" },
          },
          {
            public_url: `http://127.0.0.1:${f.receiver.port}`,
            proto: "https",
            config: { addr: `http://localhost:${f.receiver.port}` },
          },
        ],
      }),
  );
  try {
    await t.step("an agent's https tunnel to --port is used, with --path appended", async () => {
      const run = await f.run(["--port", String(f.receiver.port), "--timeout", "5"], {}, {
        ngrokAgentApi: `http://127.0.0.1:${agent.addr.port}`,
      });
      assert.equal(run.code, 0, run.err.join("\n"));
      assert.ok(
        run.out.includes(`✓ Public URL ${f.receiver.url} (from ngrok agent)`),
        run.out.join("\n"),
      );
    });

    await t.step(
      "no agent and an ngrok add-on that cannot load: use --url or the agent",
      async () => {
        const run = await f.run(["--port", "8080"], { NGROK_AUTHTOKEN: "fake" }, {
          loadNgrok: (): Promise<NgrokModule> => Promise.reject(new Error("Requires ffi access")),
        });
        assert.equal(run.code, 1);
        assert.match(run.err[0], /Cannot open an ngrok tunnel: the ngrok add-on could not load/);
        assert.match(run.err[0], /pass --url, or run the ngrok agent \(ngrok http 8080\)/);
      },
    );

    await t.step("an in-process tunnel is used and closed when the command ends", async () => {
      let closed = false;
      const ngrok: NgrokModule = {
        forward: (config) => {
          assert.equal(config.addr, f.receiver.port);
          assert.equal(config.authtoken, "tok");
          return Promise.resolve({
            url: () => `http://127.0.0.1:${f.receiver.port}`,
            close: () => {
              closed = true;
              return Promise.resolve();
            },
          });
        },
      };
      const run = await f.run(
        ["--port", String(f.receiver.port), "--timeout", "5"],
        { NGROK_AUTHTOKEN: "tok" },
        { loadNgrok: () => Promise.resolve(ngrok) },
      );
      assert.equal(run.code, 0, run.err.join("\n"));
      assert.ok(run.out.some((line) => line.includes("(from ngrok tunnel)")));
      assert.ok(closed);
    });

    await t.step("no way to get a public URL is a usage error", async () => {
      await assert.rejects(
        f.run(["--port", "8080"], { NGROK_AUTHTOKEN: undefined }),
        /no public URL/,
      );
    });
  } finally {
    await agent.shutdown();
    await f.close();
  }
});

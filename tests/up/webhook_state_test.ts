/** Tests of the webhook state file: atomic 0600 writes, reads, and the secrets it yields. */
import assert from "node:assert/strict";
import {
  readWebhookState,
  webhookSecretsFrom,
  type WebhookState,
  webhookStatePath,
  writeWebhookState,
} from "../../lib/up/webhook_state.ts";

const entry = (id: string, secretKey: string) => ({
  id,
  url: `https://example.test/${id}`,
  description: "upbus",
  secretKey,
  createdAt: "2024-08-06T12:19:01+10:00",
});

Deno.test("readWebhookState() returns an empty state when the file does not exist", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await readWebhookState(`${dir}/missing`), { version: 1, webhooks: [] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeWebhookState() writes a 0600 file that readWebhookState() reads back", async (t) => {
  const dir = await Deno.makeTempDir();
  const dataDir = `${dir}/data`;
  try {
    const state: WebhookState = { version: 1, webhooks: [entry("a", "s1")] };
    await t.step("the directory is created and the file is mode 0600", async () => {
      await writeWebhookState(dataDir, state);
      const info = await Deno.stat(webhookStatePath(dataDir));
      assert.equal(info.mode! & 0o777, 0o600);
    });
    await t.step("the contents round-trip", async () => {
      assert.deepEqual(await readWebhookState(dataDir), state);
    });
    await t.step("a rewrite replaces the file and leaves no temporary file", async () => {
      await writeWebhookState(dataDir, {
        version: 1,
        webhooks: [entry("a", "s1"), entry("b", "s2")],
      });
      assert.equal((await readWebhookState(dataDir)).webhooks.length, 2);
      const names = [...Deno.readDirSync(dataDir)].map((item) => item.name);
      assert.deepEqual(names, ["webhooks.json"]);
      assert.equal((await Deno.stat(webhookStatePath(dataDir))).mode! & 0o777, 0o600);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readWebhookState() refuses a file that is not a version 1 state", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("not JSON", async () => {
      await Deno.writeTextFile(webhookStatePath(dir), "{");
      await assert.rejects(readWebhookState(dir), SyntaxError);
    });
    await t.step("wrong version", async () => {
      await Deno.writeTextFile(webhookStatePath(dir), '{"version":"one","webhooks":[]}');
      await assert.rejects(readWebhookState(dir), /not a version 1 state file/);
    });
    await t.step("a newer version: refused by name, file unchanged", async () => {
      const text = '{"version":2,"webhooks":[]}';
      await Deno.writeTextFile(webhookStatePath(dir), text);
      await assert.rejects(readWebhookState(dir), /version 2, written by a newer upbus/);
      assert.equal(await Deno.readTextFile(webhookStatePath(dir)), text);
    });
    await t.step("an entry without a secret", async () => {
      await Deno.writeTextFile(
        webhookStatePath(dir),
        JSON.stringify({ version: 1, webhooks: [{ ...entry("a", ""), secretKey: "" }] }),
      );
      await assert.rejects(readWebhookState(dir), TypeError);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webhookSecretsFrom() lists each secret once, newest first", () => {
  const state: WebhookState = {
    version: 1,
    webhooks: [entry("a", "old"), entry("b", "new"), entry("c", "old")],
  };
  assert.deepEqual(webhookSecretsFrom(state), ["old", "new"]);
  assert.deepEqual(webhookSecretsFrom({ version: 1, webhooks: [] }), []);
});

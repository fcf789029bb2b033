import assert from "node:assert/strict";
import { createSecretRing } from "../../lib/webhook/secret_ring.ts";
import { signBody, verifySignature } from "../../lib/webhook/signature.ts";
import {
  readWebhookState,
  webhookSecretsFrom,
  webhookStatePath,
  writeWebhookState,
} from "../../lib/up/webhook_state.ts";

const body = new TextEncoder().encode('{"data":{}}');

async function accepts(
  ring: Awaited<ReturnType<typeof createSecretRing>>,
  secret: string,
): Promise<boolean> {
  try {
    await verifySignature(body, await signBody(body, secret), { keys: await ring.keys() });
    return true;
  } catch {
    return false;
  }
}

Deno.test("the secret ring picks up a webhook registered after startup without a restart", async () => {
  const dir = await Deno.makeTempDir();
  const errors: Error[] = [];
  const ring = await createSecretRing({
    secrets: ["from-env"],
    stateFile: webhookStatePath(dir),
    readState: async () => webhookSecretsFrom(await readWebhookState(dir)),
    onStateError: (error) => errors.push(error),
    recheckMs: 0,
  });
  assert.equal(ring.size(), 1);
  assert.equal(await accepts(ring, "registered-later"), false);

  await writeWebhookState(dir, {
    version: 1,
    webhooks: [{
      id: "w1",
      url: "https://example.test/webhook",
      description: "upbus",
      secretKey: "registered-later",
      createdAt: "2024-08-05T12:20:07+10:00",
    }],
  });
  assert.equal(await accepts(ring, "registered-later"), true);
  assert.equal(await accepts(ring, "from-env"), true);
  assert.equal(ring.size(), 2);

  await Deno.writeTextFile(webhookStatePath(dir), "{ torn write");
  assert.equal(await accepts(ring, "registered-later"), true, "keeps the keys read before");
  assert.equal(errors.length, 1);

  await Deno.remove(webhookStatePath(dir));
  assert.equal(await accepts(ring, "registered-later"), false, "a deleted webhook's secret goes");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the secret ring may start empty, and then refuses everything", async () => {
  const ring = await createSecretRing({ secrets: [] });
  assert.equal(ring.size(), 0);
  assert.equal(await accepts(ring, "anything"), false);
});

Deno.test("the secret ring looks at the state file at most once a second unless asked to", async () => {
  const dir = await Deno.makeTempDir();
  let clock = 0;
  let reads = 0;
  const ring = await createSecretRing({
    secrets: [],
    stateFile: webhookStatePath(dir),
    readState: async () => {
      reads++;
      return webhookSecretsFrom(await readWebhookState(dir));
    },
    now: () => clock,
  });
  await writeWebhookState(dir, {
    version: 1,
    webhooks: [{
      id: "w1",
      url: "https://example.test/webhook",
      description: null,
      secretKey: "new",
      createdAt: "2024-08-05T12:20:07+10:00",
    }],
  });
  clock = 999;
  assert.equal((await ring.keys()).length, 0, "not looked at again within the second");
  assert.equal((await ring.keys({ fresh: true })).length, 1, "fresh looks at once");
  assert.equal(reads, 1);
  clock = 5000;
  await ring.keys();
  assert.equal(reads, 1, "an unchanged file is not read again");
  await Deno.remove(dir, { recursive: true });
});

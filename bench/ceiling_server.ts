/**
 * The benchmark's ceiling: a bare Hono endpoint on `Deno.serve` that verifies the HMAC with
 * WebCrypto and answers 200, storing and publishing nothing. Not part of upbus.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-env=PORT,SECRET bench/ceiling_server.ts
 *
 * @module
 */
import { Hono } from "hono";
import { importSecret, SIGNATURE_HEADER, verifySignature } from "../lib/webhook/signature.ts";

const key = await importSecret(Deno.env.get("SECRET") ?? "bench-secret");
const app = new Hono();
app.post("/webhook", async function ceiling(c) {
  const raw = new Uint8Array(await c.req.arrayBuffer());
  try {
    await verifySignature(raw, c.req.header(SIGNATURE_HEADER) ?? null, { keys: [key] });
  } catch {
    return c.json({ error: "signature" }, 401);
  }
  return c.json({ status: "ok" });
});
app.get("/healthz", (c) => c.json({ status: "ok" }));
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8090),
  onListen: ({ port }) => console.log(`ceiling listening on ${port}`),
}, app.fetch);

/**
 * A child process for the crash test: appends events to the store at `Deno.args[0]` as fast as
 * it can, 16 at a time, and prints each event id once its append resolved (the moment the
 * service would answer 200). The parent kills it with SIGKILL mid-stream.
 *
 * @module
 */
import { openEventStore } from "../../lib/store/event_store.ts";

const store = await openEventStore({ path: Deno.args[0] });
const encoder = new TextEncoder();
const body = encoder.encode(JSON.stringify({ padding: "x".repeat(600) }));
let next = 0;
console.log("ready");
async function writer(): Promise<never> {
  while (true) {
    const eventId = `${Deno.pid}-${next++}`;
    await store.append({
      eventId,
      type: "TRANSACTION_CREATED",
      webhookId: "w",
      createdAt: new Date().toISOString(),
      transactionId: eventId,
      body,
      signature: "0".repeat(64),
      receivedAt: new Date().toISOString(),
    });
    await Deno.stdout.write(encoder.encode(`acked ${eventId}\n`));
  }
}
await Promise.all(Array.from({ length: 16 }, writer));

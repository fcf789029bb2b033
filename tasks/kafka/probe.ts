/**
 * Checks on a broker's ports from outside: whether it answers Kafka requests, and whether a
 * port is free for it.
 *
 * @module
 */
import { BROKER_HOST } from "./defaults.ts";

/**
 * Whether something on `port` answers a Kafka ApiVersions request: true only once the broker
 * has caught up with its metadata and accepts clients.
 *
 * @param port The client port on 127.0.0.1.
 * @param timeoutMs How long to wait for the answer. Default 2000.
 * @returns True when an ApiVersions response without error came back.
 */
export async function answersKafka(port: number, timeoutMs = 2000): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ hostname: BROKER_HOST, port });
    const clientId = new TextEncoder().encode("upbus-probe");
    const request = new Uint8Array(14 + clientId.length);
    const view = new DataView(request.buffer);
    view.setInt32(0, request.length - 4); // size
    view.setInt16(4, 18); // ApiVersions
    view.setInt16(6, 0); // version 0: every broker since 0.10 answers it
    view.setInt32(8, 0x75b5); // correlation id
    view.setInt16(12, clientId.length);
    request.set(clientId, 14);
    for (let written = 0; written < request.length;) {
      written += await conn.write(request.subarray(written));
    }
    const head = new Uint8Array(10); // size, correlation id, error code
    for (let read = 0; read < head.length;) {
      const n = await conn.read(head.subarray(read));
      if (n === null) return false;
      read += n;
    }
    const answer = new DataView(head.buffer);
    return answer.getInt32(4) === 0x75b5 && answer.getInt16(8) === 0;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // closed by the timer already
    }
  }
}

/**
 * Whether nothing listens on a loopback port, by binding it for a moment.
 *
 * @param port The port on 127.0.0.1.
 * @returns True when it could be bound.
 */
export function portIsFree(port: number): boolean {
  try {
    const listener = Deno.listen({ hostname: BROKER_HOST, port });
    listener.close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}

/**
 * Raw TCP clients for the edge tests and the abuse bench: requests written byte by byte, bodies
 * cut short, uploads that never end. Every loop is bounded in bytes and time.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What came back on a raw connection, and when it closed. */
export interface RawAnswer {
  /** Everything the server sent. */
  text: string;
  /** The status line's code, or 0 when the server sent nothing. */
  status: number;
  /** Milliseconds from `since` to the server closing; `undefined` if still open at the limit. */
  closedAfterMs?: number;
}

/** Opens a TCP connection to `127.0.0.1:port`. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Writes text or bytes; resolves false if the server has closed the connection. */
export async function send(conn: Deno.Conn, data: string | Uint8Array): Promise<boolean> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  try {
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads until the server closes the connection or `limitMs` passes, then closes it.
 *
 * @param conn The connection.
 * @param options `limitMs` (default 10000); `since`, the `performance.now()` the close time is
 * measured from (default now).
 */
export async function answer(
  conn: Deno.Conn,
  options: { limitMs?: number; since?: number } = {},
): Promise<RawAnswer> {
  const since = options.since ?? performance.now();
  const limitMs = options.limitMs ?? 10_000;
  let text = "";
  let closedAfterMs: number | undefined;
  const buffer = new Uint8Array(16 * 1024);
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* already closed */ }
  }, limitMs);
  try {
    while (true) {
      const read = await conn.read(buffer).catch(() => null);
      if (read === null) {
        if (performance.now() - since < limitMs) closedAfterMs = performance.now() - since;
        break;
      }
      text += decoder.decode(buffer.subarray(0, read));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
  return { text, status: Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0), closedAfterMs };
}

/**
 * Sends `text` one piece at a time, `everyMs` apart, for at most `pieces` pieces or until the
 * server closes. Returns how many pieces were sent.
 */
export async function trickle(
  conn: Deno.Conn,
  text: string,
  options: { everyMs: number; pieces: number },
): Promise<number> {
  let sent = 0;
  for (const piece of text.slice(0, options.pieces)) {
    if (!await send(conn, piece)) break;
    sent++;
    await new Promise((resolve) => setTimeout(resolve, options.everyMs));
  }
  return sent;
}

/**
 * After `head`, sends 64 KiB chunks of a chunked body as fast as the connection takes them, until
 * a write fails, a write is blocked for `stallMs`, `maxBytes` are sent or `maxMs` pass.
 *
 * @returns The body bytes the client managed to hand to its kernel.
 */
export async function floodChunked(
  conn: Deno.Conn,
  head: string,
  options: { maxBytes: number; maxMs: number; stallMs?: number },
): Promise<number> {
  if (!await send(conn, head)) return 0;
  const payload = new Uint8Array(64 * 1024).fill(0x78);
  const chunk = new Uint8Array([
    ...encoder.encode(`${payload.length.toString(16)}\r\n`),
    ...payload,
    ...encoder.encode("\r\n"),
  ]);
  const started = performance.now();
  let sent = 0;
  while (sent < options.maxBytes && performance.now() - started < options.maxMs) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      send(conn, chunk),
      new Promise<"stalled">((resolve) =>
        timer = setTimeout(() => resolve("stalled"), options.stallMs ?? 1000)
      ),
    ]);
    clearTimeout(timer);
    if (outcome !== true) break;
    sent += chunk.length;
  }
  return sent;
}

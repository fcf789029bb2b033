/**
 * Reading a request body with a size cap enforced while reading: past the cap the stream is
 * cancelled and the rest is never buffered.
 *
 * @module
 */

/** The body is larger than the service accepts (HTTP 413). */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`Cannot read webhook: the body is larger than ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Reads a request body into one buffer, refusing bodies over `maxBytes`.
 *
 * @param request The incoming request.
 * @param options `maxBytes`: the cap.
 * @returns The exact bytes received.
 * @throws {BodyTooLargeError} If `Content-Length` or the bytes read pass the cap.
 *
 * @example
 * ```ts
 * import { readBody } from "./read_body.ts";
 * const bytes = await readBody(new Request("http://x", { method: "POST", body: "{}" }), { maxBytes: 10 });
 * if (bytes.length !== 2) throw new Error("unexpected");
 * ```
 */
export async function readBody(
  request: Request,
  options: { maxBytes: number },
): Promise<Uint8Array<ArrayBuffer>> {
  const { maxBytes } = options;
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) throw new BodyTooLargeError(maxBytes);
  if (request.body === null) return new Uint8Array(0);
  // A declared length within the cap: the runtime reads exactly that many bytes, natively.
  if (Number.isInteger(declared)) return new Uint8Array(await request.arrayBuffer());
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1 && chunks[0].byteLength === chunks[0].buffer.byteLength) {
    return chunks[0] as Uint8Array<ArrayBuffer>;
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

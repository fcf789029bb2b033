/**
 * Reading a request body with a size cap enforced while reading: past the cap the stream is
 * cancelled and the rest is never buffered. A body that does not arrive whole is the client's
 * doing and is reported as such ({@linkcode BodyIncompleteError}), never as a server fault.
 *
 * @module
 */

/** The body is larger than the service accepts (HTTP 413). */
export class BodyTooLargeError extends Error {
  /** Makes the error for a body over `limit` bytes. */
  constructor(readonly limit: number) {
    super(`Cannot read webhook: the body is larger than ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/** Why a body did not arrive whole: the client hung up (or half-closed) before its end, its
 * chunked encoding was malformed, it did not arrive within the whole-request timeout, or its
 * connection was closed to make room at the connection cap. */
export type BodyIncompleteReason =
  | "body_incomplete"
  | "body_malformed"
  | "body_timeout"
  | "body_evicted";

const INCOMPLETE_MESSAGE: Record<BodyIncompleteReason, string> = {
  body_incomplete: "the client closed the connection before the end of the body",
  body_malformed: "the body's chunked encoding is malformed",
  body_timeout: "the body did not arrive within REQUEST_TIMEOUT_SECONDS",
  body_evicted:
    "the connection was closed while its body was still arriving, to make room for a new one at MAX_CONNECTIONS",
};

/** The body did not arrive whole (HTTP 400, or 408 for the timeout). */
export class BodyIncompleteError extends Error {
  /** What went wrong; the `reason` label of the rejection metric. */
  readonly reason: BodyIncompleteReason;

  /**
   * Makes the error of an incomplete body.
   *
   * @param reason What went wrong; default `body_incomplete`.
   * @param options The underlying error, if any.
   */
  constructor(reason: BodyIncompleteReason = "body_incomplete", options?: ErrorOptions) {
    super(`Cannot read webhook: ${INCOMPLETE_MESSAGE[reason]}`, options);
    this.name = "BodyIncompleteError";
    this.reason = reason;
  }
}

/**
 * Reads a request body into one buffer, refusing bodies over `maxBytes`.
 *
 * @param request The incoming request.
 * @param options `maxBytes`: the cap.
 * @returns The exact bytes received.
 * @throws {BodyTooLargeError} If `Content-Length` or the bytes read pass the cap.
 * @throws {BodyIncompleteError} If the body stream fails: the client hung up, sent malformed
 * chunks or ran out of time.
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
  try {
    return await readCapped(request, options.maxBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError || error instanceof BodyIncompleteError) throw error;
    // Only the client can make reading its body fail (a reset, a broken stream).
    throw new BodyIncompleteError("body_incomplete", { cause: error });
  }
}

async function readCapped(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) throw new BodyTooLargeError(maxBytes);
  // A declared length within the cap: the runtime reads exactly that many bytes, natively (and
  // the edge without a web stream: `body` is not touched on this path).
  if (Number.isInteger(declared)) return new Uint8Array(await request.arrayBuffer());
  if (request.body === null) return new Uint8Array(0);
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

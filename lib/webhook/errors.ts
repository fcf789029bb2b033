/**
 * The one place errors become HTTP statuses and JSON error bodies.
 *
 * @module
 */
import { InvalidEventError } from "./event.ts";
import { SignatureError } from "./signature.ts";
import { StoreUnavailableError } from "../store/types.ts";
import { BodyIncompleteError, BodyTooLargeError } from "./read_body.ts";

/** An HTTP error response: status, a stable machine-readable code, and a message. */
export interface ErrorResponse {
  /** The HTTP status. */
  status: 400 | 401 | 404 | 405 | 408 | 413 | 500 | 503;
  /** A stable machine-readable code, such as `signature_mismatch`. */
  code: string;
  /** What went wrong, in std style. */
  message: string;
}

/**
 * Maps an error to its response. Anything unexpected is a 500 whose message says nothing of the
 * internals; a store failure is a 503 so that Up retries the delivery.
 *
 * @param error What was thrown.
 * @returns The response to send.
 */
export function errorResponse(error: unknown): ErrorResponse {
  if (error instanceof SignatureError) {
    return { status: 401, code: `signature_${error.reason}`, message: error.message };
  }
  if (error instanceof BodyTooLargeError) {
    return { status: 413, code: "body_too_large", message: error.message };
  }
  if (error instanceof BodyIncompleteError) {
    return {
      status: error.reason === "body_timeout" ? 408 : error.reason === "body_evicted" ? 503 : 400,
      code: error.reason,
      message: error.message,
    };
  }
  if (error instanceof StoreUnavailableError) {
    return {
      status: 503,
      code: "store_unavailable",
      message: "Cannot store webhook: the event store cannot commit; retry later",
    };
  }
  if (error instanceof InvalidEventError) {
    return { status: 400, code: "invalid_event", message: error.message };
  }
  return { status: 500, code: "internal", message: "Cannot handle webhook: internal error" };
}

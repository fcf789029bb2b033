/**
 * Up webhook signatures: `X-Up-Authenticity-Signature` is the lowercase hex HMAC-SHA256 of the
 * raw request body under the webhook's `secretKey`. Keys are imported once, as non-extractable
 * WebCrypto keys (what callers hold) and, for those made here, as a node:crypto key kept beside
 * them. A body is checked with that one: the HMAC computed synchronously on the calling thread and
 * compared in constant time (`timingSafeEqual`). `crypto.subtle.verify` does the same work on
 * another thread and costs the HTTP thread a hand-off per request: about 25-40 µs of CPU per
 * request in `deno task bench`, and a wait for a core on a busy machine. Keys made elsewhere are
 * checked with `crypto.subtle.verify`.
 *
 * @module
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";

/** The header Up puts its signature in. */
export const SIGNATURE_HEADER = "X-Up-Authenticity-Signature";

/** Why a signature was refused; used as the `reason` label of the rejection metric. */
export type SignatureFailure = "missing" | "malformed" | "mismatch";

/** A webhook request whose signature is missing, malformed or does not match any secret. */
export class SignatureError extends Error {
  /** Which check failed. */
  readonly reason: SignatureFailure;

  /**
   * @param reason Which check failed.
   * @param message What went wrong, in std style.
   */
  constructor(reason: SignatureFailure, message: string) {
    super(message);
    this.name = "SignatureError";
    this.reason = reason;
  }
}

const encoder = new TextEncoder();
const HEX_SHA256 = /^[0-9a-f]{64}$/;
/** The HMAC key behind each key {@linkcode importSecret} made, for the synchronous check. */
const hmacKeys = new WeakMap<CryptoKey, KeyObject>();

/**
 * Imports a webhook secret as a non-extractable HMAC-SHA256 key.
 *
 * @param secret The webhook's `secretKey`, exactly as Up returned it.
 * @returns A key usable for `sign` and `verify` only.
 * @throws {TypeError} If the secret is empty.
 *
 * @example
 * ```ts
 * import { importSecret } from "./signature.ts";
 * const key = await importSecret("s3cret");
 * ```
 */
export async function importSecret(secret: string): Promise<CryptoKey> {
  if (secret.length === 0) {
    throw new TypeError("Cannot import webhook secret: the secret is empty");
  }
  const bytes = encoder.encode(secret);
  const key = await crypto.subtle.importKey(
    "raw",
    bytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  hmacKeys.set(key, createSecretKey(bytes));
  return key;
}

/** Lowercase hex (already checked against `HEX_SHA256`) to bytes, without a string per byte. */
function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const nibble = (code: number) => code <= 57 ? code - 48 : code - 87; // "0"-"9", "a"-"f"
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = (nibble(hex.charCodeAt(i * 2)) << 4) | nibble(hex.charCodeAt(i * 2 + 1));
  }
  return bytes;
}

function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** Options for {@linkcode verifySignature}. */
export interface VerifyOptions {
  /** The keys of every accepted secret (two during a rotation). At least one. */
  keys: readonly CryptoKey[];
}

/**
 * Verifies an Up webhook signature against every accepted secret.
 *
 * @param raw The request body bytes, exactly as received.
 * @param header The `X-Up-Authenticity-Signature` header value, or `null` when absent.
 * @param options The accepted keys.
 * @returns The index in `options.keys` of the key that matched.
 * @throws {SignatureError} If the header is missing, malformed or matches no key.
 *
 * @example
 * ```ts
 * import { importSecret, signBody, verifySignature } from "./signature.ts";
 * const body = new TextEncoder().encode('{"data":{}}');
 * const key = await importSecret("s3cret");
 * const header = await signBody(body, "s3cret");
 * if (await verifySignature(body, header, { keys: [key] }) !== 0) throw new Error("unexpected");
 * ```
 */
export async function verifySignature(
  raw: Uint8Array<ArrayBuffer>,
  header: string | null,
  options: VerifyOptions,
): Promise<number> {
  if (header === null || header.length === 0) {
    throw new SignatureError(
      "missing",
      `Cannot verify webhook: "${SIGNATURE_HEADER}" header is missing`,
    );
  }
  const candidate = header.trim().toLowerCase();
  if (!HEX_SHA256.test(candidate)) {
    throw new SignatureError(
      "malformed",
      `Cannot verify webhook: "${SIGNATURE_HEADER}" header is not 64 hexadecimal characters`,
    );
  }
  const signature = hexToBytes(candidate);
  for (const [index, key] of options.keys.entries()) {
    const hmacKey = hmacKeys.get(key);
    const matches = hmacKey === undefined
      ? await crypto.subtle.verify("HMAC", key, signature, raw)
      : timingSafeEqual(createHmac("sha256", hmacKey).update(raw).digest(), signature);
    if (matches) return index;
  }
  throw new SignatureError(
    "mismatch",
    "Cannot verify webhook: the signature matches none of the configured secrets",
  );
}

/**
 * Signs a body the way Up does. Used by the Up simulator, the `simulate` command and tests.
 *
 * @param raw The exact body bytes to be sent.
 * @param secret The webhook's `secretKey`.
 * @returns The lowercase hex HMAC-SHA256, ready for the signature header.
 *
 * @example
 * ```ts
 * import { signBody } from "./signature.ts";
 * const header = await signBody(new TextEncoder().encode("{}"), "s3cret");
 * if (header.length !== 64) throw new Error("unexpected");
 * ```
 */
export async function signBody(
  raw: Uint8Array<ArrayBuffer> | string,
  secret: string,
): Promise<string> {
  const key = await importSecret(secret);
  const bytes = typeof raw === "string" ? encoder.encode(raw) : raw;
  return bytesToHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes)));
}

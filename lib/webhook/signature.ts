/**
 * Up webhook signatures: `X-Up-Authenticity-Signature` is the lowercase hex HMAC-SHA256 of the
 * raw request body under the webhook's `secretKey`. WebCrypto only; keys are imported once,
 * non-extractable, and compared in constant time by `crypto.subtle.verify`.
 *
 * Accepted forms of the header, decided from Up's contract (the OpenAPI spec's "Securing Webhook
 * Event Handlers": its Ruby and PHP examples compare the header, as a string, with
 * `OpenSSL::HMAC.hexdigest` / `hash_hmac`, which are lowercase hex, so a header that is not exactly
 * those 64 lowercase characters fails Up's own reference check):
 *
 * - exactly 64 characters `0-9a-f`: accepted (the MAC is still checked);
 * - the same with leading or trailing SP or HTAB: accepted, because RFC 9110 section 5.5 makes
 *   that whitespace no part of a field value (the HTTP server strips it already; this covers
 *   callers that pass a raw value);
 * - uppercase or mixed-case hex: refused as malformed. Up never sends it, its reference code would
 *   refuse it, and accepting it would only widen what a client may send for no caller's benefit;
 * - any other whitespace (U+00A0, CR, LF, vertical tab, ...), a `sha256=` prefix, any other length
 *   or character: refused as malformed. JavaScript's `trim()` is not used: it strips non-HTTP
 *   whitespace such as U+00A0.
 *
 * @module
 */

/** The header Up puts its signature in. */
export const SIGNATURE_HEADER = "X-Up-Authenticity-Signature";

/** Why a signature was refused; used as the `reason` label of the rejection metric. */
export type SignatureFailure = "missing" | "malformed" | "mismatch";

/** A webhook request whose signature is missing, malformed or does not match any secret. */
export class SignatureError extends Error {
  /** Which check failed. */
  readonly reason: SignatureFailure;

  /**
   * Makes the error of a failed signature check.
   *
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
/** RFC 9110 optional whitespace (OWS): SP and HTAB only. */
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;

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
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}

function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Reads the signature header's value in the one accepted form (see the module documentation).
 *
 * @param header The `X-Up-Authenticity-Signature` header value, or `null` when absent.
 * @returns The 64 lowercase hex characters, without surrounding SP or HTAB.
 * @throws {SignatureError} `missing` if absent or empty, `malformed` if not exactly 64 lowercase
 * hex characters once SP and HTAB are removed from both ends.
 *
 * @example
 * ```ts
 * import { parseSignatureHeader } from "./signature.ts";
 * const hex = "0123456789abcdef".repeat(4);
 * if (parseSignatureHeader(`\t${hex} `) !== hex) throw new Error("unexpected");
 * ```
 */
export function parseSignatureHeader(header: string | null): string {
  const value = header?.replace(OWS_EDGES, "") ?? "";
  if (value.length === 0) {
    throw new SignatureError(
      "missing",
      `Cannot verify webhook: "${SIGNATURE_HEADER}" header is missing`,
    );
  }
  if (!HEX_SHA256.test(value)) {
    throw new SignatureError(
      "malformed",
      `Cannot verify webhook: "${SIGNATURE_HEADER}" header is not 64 lowercase hexadecimal characters`,
    );
  }
  return value;
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
 * @throws {SignatureError} If the header is missing, malformed (see {@linkcode parseSignatureHeader})
 * or matches no key.
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
  const signature = hexToBytes(parseSignatureHeader(header));
  for (const [index, key] of options.keys.entries()) {
    if (await crypto.subtle.verify("HMAC", key, signature, raw)) return index;
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

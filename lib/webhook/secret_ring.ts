/**
 * The set of webhook secrets the service accepts: those in `UP_WEBHOOK_SECRETS` plus those of the
 * webhooks `register-webhook` saved in the state file. The file is read again whenever it
 * changes, so a newly registered webhook is accepted without a restart.
 *
 * @module
 */
import { importSecret } from "./signature.ts";

/** Options for {@linkcode createSecretRing}. */
export interface SecretRingOptions {
  /** Secrets from the environment; may be empty. */
  secrets: readonly string[];
  /** Path of a file whose secrets are accepted too; default none. */
  stateFile?: string;
  /** Reads the secrets out of `stateFile`; required with it. Missing file: return `[]`. */
  readState?: (path: string) => Promise<string[]>;
  /** Told when the state file cannot be read; the keys read before stay. Default: ignored. */
  onStateError?: (error: Error) => void;
  /** Least time between two looks at the file, in ms; default 1000. A signature that matches
   * no key makes the ring look again at once (see {@linkcode SecretRing.keys}). */
  recheckMs?: number;
  /** The clock, in ms; default `Date.now`. */
  now?: () => number;
}

/** The accepted keys, kept current. */
export interface SecretRing {
  /**
   * The keys to verify against now; re-reads the state file when it changed.
   *
   * @param options `fresh`: look at the file now even if it was looked at less than
   * `recheckMs` ago (after a mismatch, so a webhook registered a moment ago is accepted).
   */
  keys(options?: { fresh?: boolean }): Promise<CryptoKey[]>;
  /** How many secrets are accepted now; 0 means every webhook is refused. */
  size(): number;
}

/** Identifies one version of the file: atomic writes rename a new inode into place. */
async function modified(path: string): Promise<string | null> {
  try {
    const info = await Deno.stat(path);
    return `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Creates the ring and imports its keys.
 *
 * @param options The environment's secrets and the state file.
 * @returns The ring.
 *
 * @example
 * ```ts
 * import { createSecretRing } from "./secret_ring.ts";
 * const ring = await createSecretRing({ secrets: ["old", "new"] });
 * if ((await ring.keys()).length !== 2) throw new Error("unexpected");
 * ```
 */
export async function createSecretRing(options: SecretRingOptions): Promise<SecretRing> {
  const now = options.now ?? Date.now;
  const recheckMs = options.recheckMs ?? 1000;
  const fixed = await Promise.all([...new Set(options.secrets)].map(importSecret));
  let fromState: CryptoKey[] = [];
  let stateVersion: string | null = null;
  let checkedAt = -Infinity;

  async function refresh(fresh: boolean): Promise<void> {
    if (options.stateFile === undefined || options.readState === undefined) return;
    if (!fresh && now() - checkedAt < recheckMs) return;
    checkedAt = now();
    const version = await modified(options.stateFile);
    if (version === stateVersion) return;
    try {
      const secrets = version === null ? [] : await options.readState(options.stateFile);
      fromState = await Promise.all(
        [...new Set(secrets)].filter((s) => !options.secrets.includes(s)).map(importSecret),
      );
    } catch (error) {
      options.onStateError?.(error as Error);
    }
    stateVersion = version;
  }

  await refresh(true);
  return {
    async keys({ fresh = false } = {}) {
      await refresh(fresh);
      return [...fixed, ...fromState];
    },
    size: () => fixed.length + fromState.length,
  };
}

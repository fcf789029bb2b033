/**
 * @module Notification target
 * What every target (ntfy, signed webhook, Telegram, Discord) is: something that turns a
 * {@linkcode Notification} into one HTTP request, with its secret read once at start from the
 * environment or a file, and a list of secret values that must never reach a log line.
 */
import type { Notification } from "./notification.ts";
import type { SecretRef, TargetConfig, TargetType } from "./rules.ts";

/** One HTTP request to send. */
export interface TargetRequest {
  /** The URL (it may carry a secret: Telegram's bot token, Discord's webhook token). */
  url: string;
  /** Method, headers and body. */
  init: RequestInit & { headers: Record<string, string>; body: string };
}

/** A target ready to send. */
export interface Target {
  /** The config from the rules file. */
  config: TargetConfig;
  /** Secret values to redact from anything logged or stored. */
  secrets: string[];
  /**
   * The request for one notification.
   *
   * @param notification What to send.
   * @param now The attempt's time, epoch ms (signed webhooks carry it).
   */
  request(notification: Notification, now: number): Promise<TargetRequest>;
  /** How long the target asked to wait, from a 429 body (Telegram, Discord), in ms. */
  retryAfterFromBody?(body: string): number | undefined;
}

/** Builds a target of one type from its config and its secret. */
export type TargetFactory = (config: TargetConfig, secret: string | undefined) => Target;

/** Options for {@linkcode readSecret}. */
export interface ReadSecretOptions {
  /** Reads an environment variable. Default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
}

/**
 * Reads a secret from the environment or a file, once.
 *
 * @param ref Where it is.
 * @param what What it is, for the message (`target "phone" token`).
 * @param options The environment.
 * @returns The secret, trimmed.
 * @throws {TypeError} If it is missing or empty: the message names the variable or file.
 *
 * @example
 * ```ts
 * import { readSecret } from "./target.ts";
 * const secret = await readSecret({ env: "NOTIFY_X" }, "x", { env: () => " s3cret\n" });
 * if (secret !== "s3cret") throw new Error("unexpected");
 * ```
 */
export async function readSecret(
  ref: SecretRef,
  what: string,
  options: ReadSecretOptions = {},
): Promise<string> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  let value: string | undefined;
  if (ref.env !== undefined) {
    value = env(ref.env);
    if (!value?.trim()) {
      throw new TypeError(`Cannot read ${what}: environment variable ${ref.env} is not set`);
    }
  } else {
    try {
      value = await Deno.readTextFile(ref.file!);
    } catch (error) {
      throw new TypeError(
        `Cannot read ${what}: file ${ref.file} cannot be read (${(error as Error).name})`,
      );
    }
    if (!value.trim()) throw new TypeError(`Cannot read ${what}: file ${ref.file} is empty`);
  }
  return value.trim();
}

/**
 * Replaces every secret in a text by `[secret]`, before it is logged or stored.
 *
 * @param text The text.
 * @param secrets The secret values.
 * @returns The text without them.
 *
 * @example
 * ```ts
 * import { redact } from "./target.ts";
 * if (redact("url /bot123:abc/send", ["123:abc"]) !== "url /bot[secret]/send") throw new Error();
 * ```
 */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join("[secret]");
  }
  return out;
}

/** A JSON request. */
export function jsonRequest(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): TargetRequest {
  return {
    url,
    init: {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    },
  };
}

/** The secret a target type needs, if any. */
export function secretRefOf(config: TargetConfig): SecretRef | undefined {
  return config.type === "discord" ? config.urlSecret : config.secret;
}

/** The registry of target types: configuration picks one, callers never branch on type. */
export type TargetRegistry = Record<TargetType, TargetFactory>;

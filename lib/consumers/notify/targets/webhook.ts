/**
 * @module Signed webhook target
 * Sends a notification to any HTTP receiver (Home Assistant, n8n...) signed per the Standard
 * Webhooks specification: `webhook-id` (the notification's id, the same on every retry),
 * `webhook-timestamp` (seconds, of the attempt) and `webhook-signature`, `v1,` followed by the
 * base64 HMAC-SHA256 of `id.timestamp.body` under the key the `whsec_` secret encodes.
 */
import { Buffer } from "node:buffer";
import { jsonRequest, type Target, type TargetFactory } from "../target.ts";

/**
 * Signs a payload the Standard Webhooks way.
 *
 * @param secret The `whsec_<base64>` secret.
 * @param id The message id.
 * @param timestamp Seconds since the epoch.
 * @param body The exact body sent.
 * @returns The `webhook-signature` header value, `v1,<base64>`.
 * @throws {TypeError} If the secret is not `whsec_` followed by base64.
 *
 * @example
 * ```ts
 * import { signStandardWebhook } from "./webhook.ts";
 * const signature = await signStandardWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
 * if (signature !== "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") throw new Error(signature);
 * ```
 */
export async function signStandardWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  if (!secret.startsWith("whsec_")) {
    throw new TypeError('Cannot sign webhook: the secret must start with "whsec_"');
  }
  const encoded = secret.slice("whsec_".length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new TypeError('Cannot sign webhook: the secret after "whsec_" is not base64');
  }
  const raw = new Uint8Array(Buffer.from(encoded, "base64"));
  const key = await crypto.subtle.importKey(
    "raw",
    raw,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`${id}.${timestamp}.${body}`),
  );
  return `v1,${Buffer.from(mac).toString("base64")}`;
}

/**
 * Creates a signed webhook target. The body is
 * `{"type":"transaction.<event>","timestamp":...,"data":{rule,title,message,transaction}}`.
 *
 * @param config The target's config: `url`.
 * @param secret The `whsec_` secret.
 * @returns The target.
 */
export const webhookTarget: TargetFactory = (config, secret): Target => {
  if (!secret?.startsWith("whsec_")) {
    throw new TypeError(
      `Cannot use target "${config.name}": its secret must be a Standard Webhooks secret, "whsec_" followed by base64`,
    );
  }
  return {
    config,
    secrets: [secret, secret.slice("whsec_".length)],
    async request(notification, now) {
      const timestamp = Math.floor(now / 1000);
      const request = jsonRequest(config.url!, {
        type: `transaction.${notification.event}`,
        timestamp: new Date(now).toISOString(),
        data: {
          rule: notification.rule,
          title: notification.title ?? null,
          message: notification.message,
          transaction: notification.transaction,
        },
      });
      const signature = await signStandardWebhook(
        secret,
        notification.id,
        timestamp,
        request.init.body,
      );
      Object.assign(request.init.headers, {
        "webhook-id": notification.id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signature,
      });
      return request;
    },
  };
};

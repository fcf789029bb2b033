/**
 * @module ntfy target
 * Publishes to an ntfy server (self-hosted, or ntfy.sh) with ntfy's documented JSON publish:
 * `POST <server>/` with `{topic, message, title, tags, priority, click}`, and an optional access
 * token as `Authorization: Bearer`.
 */
import { jsonRequest, type Target, type TargetFactory } from "../target.ts";

/**
 * Creates an ntfy target.
 *
 * @param config The target's config: `url` (the server) and `topic`.
 * @param token The access token, when the topic needs one.
 * @returns The target.
 *
 * @example
 * ```ts
 * import { ntfyTarget } from "./ntfy.ts";
 * const target = ntfyTarget({
 *   name: "phone", type: "ntfy", url: "https://ntfy.sh", topic: "t",
 *   ratePerMinute: 30, attempts: 6, initialDelayMs: 2000,
 * }, undefined);
 * if (target.secrets.length !== 0) throw new Error("unexpected");
 * ```
 */
export const ntfyTarget: TargetFactory = (config, token): Target => ({
  config,
  secrets: token ? [token] : [],
  request(notification) {
    const body: Record<string, unknown> = {
      topic: config.topic,
      message: notification.message,
      priority: notification.priority,
    };
    if (notification.title) body.title = notification.title;
    if (notification.tags.length > 0) body.tags = notification.tags;
    if (notification.click) body.click = notification.click;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    return Promise.resolve(jsonRequest(`${config.url}/`, body, headers));
  },
});

/**
 * @module Discord target
 * Posts with Discord's Execute Webhook: `POST <webhook URL>?wait=true` with `{content, embeds}`.
 * The webhook URL carries its token, so it is a secret (from the environment or a file) and never
 * logged. A 429 answers `{"retry_after": seconds}`, which is honoured.
 */
import { jsonRequest, type Target, type TargetFactory } from "../target.ts";

/** Discord's limit on `content`. */
const MAX_CONTENT = 2000;

/**
 * Creates a Discord target.
 *
 * @param config The target's config.
 * @param url The webhook URL, `https://discord.com/api/webhooks/<id>/<token>`.
 * @returns The target.
 */
export const discordTarget: TargetFactory = (config, url): Target => {
  if (!URL.canParse(url!)) {
    throw new TypeError(`Cannot use target "${config.name}": its webhook URL is not a URL`);
  }
  const token = new URL(url!).pathname.split("/").filter(Boolean).at(-1) ?? "";
  return {
    config,
    secrets: [url!, token],
    request(notification) {
      const body: Record<string, unknown> = {
        content: notification.message.slice(0, MAX_CONTENT),
        allowed_mentions: { parse: [] },
      };
      if (notification.title) {
        const embed: Record<string, unknown> = { title: notification.title.slice(0, 256) };
        if (notification.click) embed.url = notification.click;
        body.embeds = [embed];
      }
      const target = new URL(url!);
      target.searchParams.set("wait", "true");
      return Promise.resolve(jsonRequest(target.href, body));
    },
    retryAfterFromBody(text) {
      const seconds = (JSON.parse(text) as { retry_after?: unknown })?.retry_after;
      return typeof seconds === "number" ? seconds * 1000 : undefined;
    },
  };
};

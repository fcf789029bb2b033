/**
 * @module Telegram target
 * Sends a message with the Telegram Bot API's `sendMessage`: `POST <api>/bot<token>/sendMessage`
 * with `{chat_id, text}`. The token is part of the URL (Telegram's design): the URL is never
 * logged. A 429 answers `{"parameters":{"retry_after":N}}`, which is honoured.
 */
import { jsonRequest, type Target, type TargetFactory } from "../target.ts";

/**
 * Creates a Telegram target.
 *
 * @param config The target's config: `url` (the Bot API base) and `chatId`.
 * @param token The bot token.
 * @returns The target.
 */
export const telegramTarget: TargetFactory = (config, token): Target => ({
  config,
  secrets: [token!],
  request(notification) {
    const text = notification.title
      ? `${notification.title}\n${notification.message}`
      : notification.message;
    const body: Record<string, unknown> = { chat_id: config.chatId, text };
    if (notification.click) {
      body.reply_markup = {
        inline_keyboard: [[{ text: "Open in Up", url: notification.click }]],
      };
    }
    return Promise.resolve(jsonRequest(`${config.url}/bot${token}/sendMessage`, body));
  },
  retryAfterFromBody(text) {
    const seconds = (JSON.parse(text) as { parameters?: { retry_after?: unknown } })?.parameters
      ?.retry_after;
    return typeof seconds === "number" ? seconds * 1000 : undefined;
  },
});

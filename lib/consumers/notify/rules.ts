/**
 * @module Notification rules
 * The rules file of `consume notify`, a YAML file a person writes by hand (parsed by the `yaml`
 * package): named `targets` (where notifications go) and `rules` (what to match, what to say).
 * Everything is checked once, at start: a mistake is a {@linkcode RulesError} naming the file,
 * the line and the reason, and nothing runs.
 */
import { LineCounter, parseDocument } from "yaml";
import { TEMPLATE_FIELDS, templateFields } from "./template.ts";

/** The events a rule can fire on. */
export const RULE_EVENTS = ["created", "settled", "deleted"] as const;
/** An event a rule fires on: a transaction first seen, seen settled, or deleted. */
export type RuleEvent = typeof RULE_EVENTS[number];

/** The kinds of targets. */
export const TARGET_TYPES = ["ntfy", "webhook", "telegram", "discord"] as const;
/** A kind of target. */
export type TargetType = typeof TARGET_TYPES[number];

/** ntfy's priorities by name (1 to 5). */
export const NTFY_PRIORITIES: Readonly<Record<string, number>> = {
  min: 1,
  low: 2,
  default: 3,
  high: 4,
  max: 5,
  urgent: 5,
};

/** Where a secret comes from: an environment variable or a file; never the rules file. */
export interface SecretRef {
  /** The variable's name. */
  env?: string;
  /** The file's path (its content, trimmed). */
  file?: string;
}

/** A target: where notifications go, and how fast. */
export interface TargetConfig {
  /** Its name in the rules file. */
  name: string;
  /** The kind. */
  type: TargetType;
  /** ntfy: the server (`https://ntfy.sh`); webhook: the receiver; telegram: the Bot API base. */
  url?: string;
  /** discord: the webhook URL, a secret (it carries the webhook's token). */
  urlSecret?: SecretRef;
  /** ntfy: the topic. */
  topic?: string;
  /** telegram: the chat id. */
  chatId?: string;
  /** ntfy: access token; webhook: the `whsec_` signing secret; telegram: the bot token. */
  secret?: SecretRef;
  /** Most notifications sent per minute. Default 30. */
  ratePerMinute: number;
  /** Attempts before a notification is dead-lettered. Default 6. */
  attempts: number;
  /** First retry delay, in ms; doubles, to at most 10 minutes. Default 2000. */
  initialDelayMs: number;
}

/** What a rule matches; every given condition must hold. */
export interface RuleMatch {
  /** Accounts, by display name or id. */
  accounts?: string[];
  /** `out` (money spent or sent, negative) or `in`. */
  direction?: "out" | "in";
  /** Smallest absolute amount, in cents (inclusive). */
  minCents?: number;
  /** Largest absolute amount, in cents (inclusive). */
  maxCents?: number;
  /** Category or parent category ids (`pubs-and-bars`, `good-life`). */
  categories?: string[];
  /** Matched against the description and the raw text, case-insensitive. */
  pattern?: RegExp;
  /** The status at the event. */
  status?: "held" | "settled";
  /** Whether the transaction carries a round-up. */
  roundUp?: boolean;
  /** A transfer between the customer's own accounts: `in`, `out` or `any`; `none` for no transfer. */
  transfer?: "in" | "out" | "any" | "none";
}

/** One notification a rule sends. */
export interface RuleAction {
  /** The target's name. */
  target: string;
  /** The message template. */
  message: string;
  /** The title template (ntfy, webhook, Discord embed title). */
  title?: string;
  /** ntfy tags (emoji short codes work). */
  tags: string[];
  /** ntfy priority, 1 to 5. Default 3. */
  priority: number;
  /** Click URL template; default the transaction's `deepLinkURL` when Up gives one. */
  click?: string;
}

/** A rule. */
export interface Rule {
  /** Its name (unique): part of each notification's identity. */
  name: string;
  /** The line it starts on. */
  line: number;
  /** The events it fires on. Default `created` only. */
  on: RuleEvent[];
  /** The conditions. */
  match: RuleMatch;
  /** What it sends. */
  actions: RuleAction[];
}

/** A checked rules file. */
export interface Rules {
  /** Targets by name. */
  targets: Map<string, TargetConfig>;
  /** Rules in file order. */
  rules: Rule[];
}

/** A mistake in the rules file, with where it is. */
export class RulesError extends Error {
  /** The line (1-based), when known. */
  line: number | undefined;
  /**
   * Makes the error of a rules-file mistake.
   *
   * @param message What is wrong, naming the file and line.
   * @param line The line.
   */
  constructor(message: string, line?: number) {
    super(message);
    this.name = "RulesError";
    this.line = line;
  }
}

type Path = Array<string | number>;

const RULE_KEYS = ["name", "on", "match", "notify"];
const MATCH_KEYS = [
  "account",
  "direction",
  "amount",
  "category",
  "description",
  "status",
  "round_up",
  "transfer",
];
const ACTION_KEYS = ["target", "message", "title", "tags", "priority", "click"];
const TARGET_KEYS = [
  "type",
  "url",
  "url_env",
  "url_file",
  "topic",
  "chat_id",
  "token_env",
  "token_file",
  "secret_env",
  "secret_file",
  "rate_per_minute",
  "attempts",
  "initial_delay_ms",
];

/**
 * Parses and checks a rules file.
 *
 * @param text The file's text.
 * @param options `path`, the file's name for messages.
 * @returns The rules.
 * @throws {RulesError} At the first mistake, with its line and reason.
 *
 * @example
 * ```ts
 * import { parseRules } from "./rules.ts";
 * const rules = parseRules(`
 * targets:
 *   phone: { type: ntfy, url: "https://ntfy.sh", topic: my-topic }
 * rules:
 *   - name: big spend
 *     match: { direction: out, amount: { over: 50 } }
 *     notify: [{ target: phone, message: "{{description}} {{amount}}" }]
 * `, { path: "rules.yaml" });
 * if (rules.rules[0].match.minCents !== 5001) throw new Error("unexpected");
 * ```
 */
export function parseRules(text: string, options: { path: string }): Rules {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const file = options.path;
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const line = error.linePos?.[0].line;
    throw new RulesError(
      `Cannot read rules: ${file}:${line ?? "?"}: ${error.message.split("\n")[0]}`,
      line,
    );
  }

  function lineOf(path: Path): number | undefined {
    for (let end = path.length; end >= 0; end--) {
      const node = end === 0 ? doc.contents : doc.getIn(path.slice(0, end), true);
      const range = (node as { range?: [number, number, number] } | null)?.range;
      if (range) return lines.linePos(range[0]).line;
    }
    return undefined;
  }
  function fail(path: Path, reason: string): never {
    const line = lineOf(path);
    const where = path.length > 0 ? ` (${path.join(".")})` : "";
    throw new RulesError(`Cannot read rules: ${file}:${line ?? "?"}${where}: ${reason}`, line);
  }
  function record(value: unknown, path: Path, keys?: string[]): Record<string, unknown> {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      fail(path, "expected a mapping (key: value)");
    }
    if (keys) {
      for (const key of Object.keys(value)) {
        if (!keys.includes(key)) {
          fail([...path, key], `unknown key "${key}", expected one of ${keys.join(", ")}`);
        }
      }
    }
    return value as Record<string, unknown>;
  }
  function string(value: unknown, path: Path): string {
    if (typeof value === "number") return String(value);
    if (typeof value !== "string" || value.trim() === "") fail(path, "expected a non-empty text");
    return value;
  }
  function optionalString(value: unknown, path: Path): string | undefined {
    return value === undefined ? undefined : string(value, path);
  }
  function strings(value: unknown, path: Path): string[] {
    const list = Array.isArray(value) ? value : [value];
    return list.map((item, index) => string(item, Array.isArray(value) ? [...path, index] : path));
  }
  function oneOf<const T extends string>(value: unknown, allowed: readonly T[], path: Path): T {
    if (typeof value !== "string" || !allowed.includes(value as T)) {
      fail(path, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  }
  function positive(value: unknown, path: Path, fallback: number, integer = true): number {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !(value > 0) || (integer && !Number.isInteger(value))) {
      fail(path, `expected a positive ${integer ? "whole " : ""}number`);
    }
    return value;
  }
  function template(value: unknown, path: Path): string {
    const text = string(value, path);
    for (const field of templateFields(text)) {
      if (!TEMPLATE_FIELDS.includes(field)) {
        fail(path, `unknown field "{{${field}}}", expected one of ${TEMPLATE_FIELDS.join(", ")}`);
      }
    }
    return text;
  }
  function secret(
    target: Record<string, unknown>,
    prefix: string,
    path: Path,
  ): SecretRef | undefined {
    const env = optionalString(target[`${prefix}_env`], [...path, `${prefix}_env`]);
    const secretFile = optionalString(target[`${prefix}_file`], [...path, `${prefix}_file`]);
    if (env !== undefined && secretFile !== undefined) {
      fail([...path, `${prefix}_env`], `give ${prefix}_env or ${prefix}_file, not both`);
    }
    if (env !== undefined && !/^NOTIFY_[A-Z0-9_]+$/.test(env)) {
      fail(
        [...path, `${prefix}_env`],
        `the variable must be named NOTIFY_<NAME> (upper case), got "${env}": only those are readable under the consume permission set`,
      );
    }
    if (env === undefined && secretFile === undefined) return undefined;
    return env !== undefined ? { env } : { file: secretFile };
  }
  function url(value: unknown, path: Path): string {
    const text = string(value, path);
    if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
      fail(path, `expected an http or https URL, got "${text}"`);
    }
    return text.replace(/\/+$/, "");
  }

  const top = record(doc.toJS() ?? {}, [], ["targets", "rules"]);
  const targets = new Map<string, TargetConfig>();
  const targetMap = record(top.targets ?? fail([], 'missing "targets"'), ["targets"]);
  for (const [name, raw] of Object.entries(targetMap)) {
    const path = ["targets", name];
    const target = record(raw, path, TARGET_KEYS);
    const type = oneOf(target.type, TARGET_TYPES, [...path, "type"]);
    const config: TargetConfig = {
      name,
      type,
      ratePerMinute: positive(target.rate_per_minute, [...path, "rate_per_minute"], 30, false),
      attempts: positive(target.attempts, [...path, "attempts"], 6),
      initialDelayMs: positive(target.initial_delay_ms, [...path, "initial_delay_ms"], 2000),
    };
    const need = (key: string) =>
      target[key] === undefined ? fail(path, `a ${type} target needs "${key}"`) : target[key];
    if (type === "ntfy") {
      config.url = url(target.url ?? "https://ntfy.sh", [...path, "url"]);
      config.topic = string(need("topic"), [...path, "topic"]);
      config.secret = secret(target, "token", path);
    } else if (type === "webhook") {
      config.url = url(need("url"), [...path, "url"]);
      config.secret = secret(target, "secret", path) ??
        fail(path, "a webhook target needs secret_env or secret_file (a whsec_ secret)");
    } else if (type === "telegram") {
      config.url = url(target.url ?? "https://api.telegram.org", [...path, "url"]);
      config.chatId = string(need("chat_id"), [...path, "chat_id"]);
      config.secret = secret(target, "token", path) ??
        fail(path, "a telegram target needs token_env or token_file (the bot token)");
    } else {
      if (target.url !== undefined) {
        fail([...path, "url"], "a discord webhook URL carries its token: use url_env or url_file");
      }
      config.urlSecret = secret(target, "url", path) ??
        fail(path, "a discord target needs url_env or url_file (the webhook URL)");
    }
    for (const key of Object.keys(target)) {
      const allowed: Record<TargetType, string[]> = {
        ntfy: ["url", "topic", "token_env", "token_file"],
        webhook: ["url", "secret_env", "secret_file"],
        telegram: ["url", "chat_id", "token_env", "token_file"],
        discord: ["url_env", "url_file"],
      };
      const common = ["type", "rate_per_minute", "attempts", "initial_delay_ms"];
      if (!common.includes(key) && !allowed[type].includes(key)) {
        fail([...path, key], `"${key}" does not apply to a ${type} target`);
      }
    }
    targets.set(name, config);
  }

  const rules: Rule[] = [];
  const rawRules = top.rules ?? fail([], 'missing "rules"');
  if (!Array.isArray(rawRules)) fail(["rules"], "expected a list of rules");
  const names = new Set<string>();
  rawRules.forEach((raw, index) => {
    const path = ["rules", index];
    const rule = record(raw, path, RULE_KEYS);
    const name = string(rule.name ?? fail(path, 'a rule needs a "name"'), [...path, "name"]);
    if (names.has(name)) fail([...path, "name"], `another rule is already named "${name}"`);
    names.add(name);
    const on = rule.on === undefined ? ["created" as const] : strings(rule.on, [...path, "on"])
      .map((event, i) =>
        oneOf(event, RULE_EVENTS, Array.isArray(rule.on) ? [...path, "on", i] : [...path, "on"])
      );
    const match = readMatch(rule.match ?? {}, [...path, "match"]);
    const rawActions = rule.notify ?? fail(path, 'a rule needs "notify": a list of actions');
    if (!Array.isArray(rawActions) || rawActions.length === 0) {
      fail([...path, "notify"], "expected a non-empty list of actions");
    }
    const actions = rawActions.map((rawAction, i) => {
      const actionPath = [...path, "notify", i];
      const action = record(rawAction, actionPath, ACTION_KEYS);
      const target = string(action.target ?? fail(actionPath, 'an action needs a "target"'), [
        ...actionPath,
        "target",
      ]);
      if (!targets.has(target)) {
        fail([...actionPath, "target"], `no target named "${target}" under "targets"`);
      }
      let priority = 3;
      if (action.priority !== undefined) {
        const raw = action.priority;
        priority = typeof raw === "number" ? raw : NTFY_PRIORITIES[String(raw)] ?? NaN;
        if (!Number.isInteger(priority) || priority < 1 || priority > 5) {
          fail(
            [...actionPath, "priority"],
            `expected 1 to 5 or one of ${Object.keys(NTFY_PRIORITIES).join(", ")}`,
          );
        }
      }
      return {
        target,
        message: template(
          action.message ?? fail(actionPath, 'an action needs a "message"'),
          [...actionPath, "message"],
        ),
        title: action.title === undefined
          ? undefined
          : template(action.title, [...actionPath, "title"]),
        tags: action.tags === undefined ? [] : strings(action.tags, [...actionPath, "tags"]),
        priority,
        click: action.click === undefined
          ? undefined
          : template(action.click, [...actionPath, "click"]),
      };
    });
    rules.push({ name, line: lineOf(path) ?? 0, on, match, actions });
  });
  return { targets, rules };

  function readMatch(raw: unknown, path: Path): RuleMatch {
    const match = record(raw, path, MATCH_KEYS);
    const result: RuleMatch = {};
    if (match.account !== undefined) result.accounts = strings(match.account, [...path, "account"]);
    if (match.direction !== undefined) {
      result.direction = oneOf(match.direction, ["out", "in"] as const, [...path, "direction"]);
    }
    if (match.amount !== undefined) {
      const amountPath = [...path, "amount"];
      const amount = record(match.amount, amountPath, ["over", "under", "min", "max"]);
      const cents = (key: string) => {
        const value = amount[key];
        if (value === undefined) return undefined;
        if (typeof value !== "number" || !(value >= 0)) {
          fail([...amountPath, key], "expected a number of dollars, 0 or more (e.g. 50 or 12.5)");
        }
        return Math.round(value * 100);
      };
      const over = cents("over"), min = cents("min"), under = cents("under"), max = cents("max");
      if (over !== undefined && min !== undefined) fail(amountPath, "give over or min, not both");
      if (under !== undefined && max !== undefined) fail(amountPath, "give under or max, not both");
      result.minCents = over !== undefined ? over + 1 : min;
      result.maxCents = under !== undefined ? under - 1 : max;
      if (
        result.minCents !== undefined && result.maxCents !== undefined &&
        result.minCents > result.maxCents
      ) {
        fail(amountPath, "the range is empty: the lower bound is above the upper one");
      }
    }
    if (match.category !== undefined) {
      result.categories = strings(match.category, [...path, "category"]);
    }
    if (match.description !== undefined) {
      const source = string(match.description, [...path, "description"]);
      try {
        result.pattern = new RegExp(source, "i");
      } catch (error) {
        fail(
          [...path, "description"],
          `not a valid regular expression: ${(error as Error).message}`,
        );
      }
    }
    if (match.status !== undefined) {
      result.status = oneOf(match.status, ["held", "settled"] as const, [...path, "status"]);
    }
    if (match.round_up !== undefined) {
      if (typeof match.round_up !== "boolean") {
        fail([...path, "round_up"], "expected true or false");
      }
      result.roundUp = match.round_up;
    }
    if (match.transfer !== undefined) {
      result.transfer = oneOf(
        match.transfer,
        ["in", "out", "any", "none"] as const,
        [...path, "transfer"],
      );
    }
    return result;
  }
}

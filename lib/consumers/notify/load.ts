/**
 * @module Loading the rules file
 * Reads and checks the rules file, reads each target's secret once, and builds the targets from
 * the registry of target types. Any mistake stops `consume notify` before it reads a record.
 */
import { parseRules, type Rules } from "./rules.ts";
import { readSecret, secretRefOf, type Target, type TargetRegistry } from "./target.ts";
import { discordTarget } from "./targets/discord.ts";
import { ntfyTarget } from "./targets/ntfy.ts";
import { telegramTarget } from "./targets/telegram.ts";
import { webhookTarget } from "./targets/webhook.ts";

/** The target types, by the name the rules file uses. */
export const TARGETS: TargetRegistry = {
  ntfy: ntfyTarget,
  webhook: webhookTarget,
  telegram: telegramTarget,
  discord: discordTarget,
};

/** A loaded rules file. */
export interface LoadedRules {
  /** The rules. */
  rules: Rules;
  /** The targets, ready to send. */
  targets: Map<string, Target>;
}

/**
 * Loads a rules file.
 *
 * @param path The file.
 * @param options `env` to read secrets from (default `Deno.env.get`).
 * @returns The rules and the targets.
 * @throws {RulesError} If the file is not valid: the message names the line and the reason.
 * @throws {TypeError} If the file or a secret cannot be read.
 *
 * @example
 * ```ts ignore
 * import { loadRules } from "./load.ts";
 * const { rules, targets } = await loadRules("notify.yaml");
 * ```
 */
export async function loadRules(
  path: string,
  options: { env?: (name: string) => string | undefined } = {},
): Promise<LoadedRules> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new TypeError(
      `Cannot read rules: ${path} cannot be read (${
        (error as Error).name
      }); pass --rules FILE or set NOTIFY_RULES`,
    );
  }
  const rules = parseRules(text, { path });
  const targets = new Map<string, Target>();
  for (const [name, config] of rules.targets) {
    const ref = secretRefOf(config);
    const secret = ref === undefined
      ? undefined
      : await readSecret(ref, `the secret of target "${name}"`, options);
    targets.set(name, TARGETS[config.type](config, secret));
  }
  return { rules, targets };
}

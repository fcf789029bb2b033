/**
 * `upbus dead-letters list | show KEY | redrive (KEY... | --all) [--dry-run]`: the authentic
 * bodies the service kept as dead letters (`DATA_DIR/events.db`), listed, inspected, and
 * re-driven (read again; those that now read as events are committed as such), plan first.
 *
 * @module
 */
import { parseFlags } from "./args.ts";
import { type Command, UsageError } from "./command.ts";
import { type CliContext, cliContext } from "./context.ts";
import { loadConfig } from "../service/config.ts";
import { describeMigration, openEventStore } from "../store/event_store.ts";
import { listDeadLetters, planRedrive, redrive } from "../webhook/dead_letters.ts";

const USAGE = `Usage: upbus dead-letters list
       upbus dead-letters show KEY
       upbus dead-letters redrive (KEY... | --all) [--dry-run]

Dead letters are bodies signed by Up that the service could not read as a webhook event; it
keeps them in DATA_DIR/events.db (and, with Kafka, publishes them to KAFKA_TOPIC.dlq). list
shows each with its key (sha256:...), when it came and why; show prints one, body included;
redrive reads them again with this upbus and commits those that now read as events (with the
signature they came with), for the relay and the enricher. The plan comes first; --dry-run
stops there. A KEY may be shortened to its first characters after "sha256:".`;

/**
 * Creates the `dead-letters` command.
 *
 * @param overrides Parts of the outside world to replace.
 * @returns The command.
 *
 * @example
 * ```ts
 * import { createDeadLettersCommand } from "./dead_letters.ts";
 * if (createDeadLettersCommand().name !== "dead-letters") throw new Error("unexpected");
 * ```
 */
export function createDeadLettersCommand(overrides: Partial<CliContext> = {}): Command {
  return {
    name: "dead-letters",
    summary: "list, inspect and re-drive the bodies kept as dead letters",
    usage: USAGE,
    async run(args) {
      const context = cliContext(overrides);
      const { values, positionals } = parseFlags(args, {
        all: { type: "boolean" },
        "dry-run": { type: "boolean" },
      }, { positionals: true });
      const [action, ...keys] = positionals;
      if (!["list", "show", "redrive"].includes(action ?? "")) {
        throw new UsageError("which action? list, show KEY or redrive (KEY... | --all)");
      }
      const config = loadConfig((name) => context.env(name));
      const path = `${config.dataDir.replace(/\/+$/, "")}/events.db`;
      try {
        Deno.statSync(path);
      } catch {
        context.err(
          `upbus dead-letters: Cannot read dead letters: ${path} does not exist; set DATA_DIR`,
        );
        return 1;
      }
      const letters = listDeadLetters(path);
      const find = (key: string) => {
        const wanted = key.startsWith("sha256:") ? key : `sha256:${key}`;
        const found = letters.filter((letter) => letter.key.startsWith(wanted));
        if (found.length !== 1) {
          throw new UsageError(
            `dead letter "${key}" ${
              found.length === 0 ? "is not in the store" : "is ambiguous"
            }, see \`deno task dead-letters list\``,
          );
        }
        return found[0];
      };
      if (action === "list") {
        if (letters.length === 0) context.out("No dead letters.");
        for (const letter of letters) {
          context.out(
            `${
              letter.key.slice(0, 19)
            }  ${letter.receivedAt}  ${letter.body.length} B  ${letter.reason}`,
          );
        }
        return 0;
      }
      if (action === "show") {
        if (keys.length !== 1) throw new UsageError("show takes one KEY");
        const letter = find(keys[0]);
        context.out(`Key:      ${letter.key}`);
        context.out(`Received: ${letter.receivedAt}`);
        context.out(`Reason:   ${letter.reason}`);
        context.out(`Body:     ${new TextDecoder().decode(letter.body.slice(0, 4096))}`);
        return 0;
      }
      if ((keys.length === 0) === !values.all) {
        throw new UsageError("redrive takes KEY... or --all, not both");
      }
      const chosen = values.all ? letters : keys.map(find);
      const plans = planRedrive(chosen);
      context.out(values["dry-run"] ? "Plan (dry run: nothing is changed):" : "Plan:");
      for (const plan of plans) {
        context.out(
          "event" in plan
            ? `  ${
              plan.letter.key.slice(0, 19)
            }: now reads as ${plan.event.type} ${plan.event.id}: to be committed`
            : `  ${
              plan.letter.key.slice(0, 19)
            }: still not an event (${plan.stillInvalid}): left as it is`,
        );
      }
      const ready = plans.filter((plan) => "event" in plan).length;
      context.out(`Total: ${ready} of ${plans.length} to commit as events.`);
      if (values["dry-run"] || ready === 0) return 0;
      const store = await openEventStore({
        path,
        onMigrated: (report) => context.err(describeMigration(path, report)),
      });
      try {
        const done = await redrive(plans, store);
        const fresh = done.filter((entry) => entry.outcome === "stored").length;
        context.out(
          `Committed ${fresh} events to ${path} (${
            done.length - fresh
          } were there already); the relay and the enricher take them from there.`,
        );
      } finally {
        await store.close();
      }
      return 0;
    },
  };
}

/** The `dead-letters` command. */
export const deadLettersCommand: Command = createDeadLettersCommand();

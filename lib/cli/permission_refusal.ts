/**
 * @module Permission refusals
 * Turns the runtime's "Requires ... access" refusal, which names a Deno flag a user of
 * `deno task` or of the compiled binary cannot pass, into a message naming the setting to change.
 * `main.ts` uses it for whatever a command's own checks did not catch first.
 */

/**
 * Explains a permission refusal.
 *
 * @param error Anything a command threw.
 * @returns The message, or `undefined` when `error` is not a permission refusal.
 *
 * @example
 * ```ts
 * import { explainPermissionRefusal } from "./permission_refusal.ts";
 * const error = new Deno.errors.NotCapable(
 *   'Requires write access to "/etc/upbus/events.db", run again with the --allow-write flag',
 * );
 * const message = explainPermissionRefusal(error);
 * if (!message?.includes("DATA_DIR") || message.includes("--allow")) throw new Error(message);
 * ```
 */
export function explainPermissionRefusal(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const access = /Requires (read|write|net) access to "([^"]+)"/.exec(message);
  const lookup = /getaddrinfo EPERM (\S+)/.exec(message);
  const [kind, target] = access
    ? [access[1], access[2]]
    : lookup
    ? ["net", lookup[1]]
    : [undefined, undefined];
  if (kind === undefined) {
    if (!(error instanceof Deno.errors.NotCapable)) return undefined;
    return `Cannot go on: upbus may not do this (${message.split(", run again")[0]})`;
  }
  if (kind === "net") {
    return `Cannot connect to ${target}: upbus may not connect there (cloud metadata addresses such as 169.254.169.254 are refused); check KAFKA_BROKERS, UP_API_BASE and the addresses your Kafka brokers advertise`;
  }
  return `Cannot ${kind} "${target}": upbus may not ${kind} files there (system directories such as /etc and /usr are refused); set DATA_DIR (or the file's setting) to a path you own, such as ~/upbus-data or /var/lib/upbus`;
}

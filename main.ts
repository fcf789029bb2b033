/**
 * upbus: receives Up's signed webhooks, keeps them safely and publishes them to Kafka.
 * The one entry point of the CLI and of the compiled binary; `serve` is the default command.
 *
 * @module
 */
import { type Command, UsageError } from "./lib/cli/command.ts";
import { explainPermissionRefusal } from "./lib/cli/permission_refusal.ts";
import { describeKafkaError } from "./lib/bus/kafka/connection_error.ts";
import { backfillCommand } from "./lib/cli/backfill.ts";
import { consumeCommand } from "./lib/cli/consume.ts";
import { demoCommand } from "./lib/cli/demo.ts";
import { enrichCommand } from "./lib/cli/enrich.ts";
import { recoverCommand } from "./lib/cli/recover.ts";
import { replayCommand } from "./lib/cli/replay.ts";
import { runCommand } from "./lib/cli/run.ts";
import { deadLettersCommand } from "./lib/cli/dead_letters.ts";
import { dataCommand } from "./lib/cli/data.ts";
import { registerWebhookCommand } from "./lib/cli/register_webhook.ts";
import { serveCommand } from "./lib/cli/serve.ts";
import { simulateCommand } from "./lib/cli/simulate.ts";
import { upSimCommand } from "./lib/cli/up_sim.ts";
import { webhooksCommand } from "./lib/cli/webhooks.ts";
import { loadEnvFile } from "./lib/runtime/env_file.ts";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  serveCommand,
  registerWebhookCommand,
  webhooksCommand,
  simulateCommand,
  upSimCommand,
  enrichCommand,
  consumeCommand,
  backfillCommand,
  recoverCommand,
  replayCommand,
  deadLettersCommand,
  dataCommand,
  demoCommand,
  runCommand,
];

function help(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  const lines = COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return [
    "upbus: Up webhooks, verified, stored and published to Kafka",
    "",
    "Usage: upbus [command] [options]   (default command: serve)",
    "",
    "Commands:",
    ...lines,
    "",
    "Run `upbus <command> --help` for a command's options.",
  ].join("\n");
}

/** What a kafkajs error that ended a command means, when upbus knows. */
function kafkaProblem(error: unknown): string | undefined {
  if (!(error instanceof Error) || !error.name.startsWith("KafkaJS")) return undefined;
  const problem = describeKafkaError(error);
  return problem && `Cannot connect to Kafka: ${problem.message} (${error.message})`;
}

/**
 * Runs the CLI.
 *
 * @param args The command line, without the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(help());
    return 0;
  }
  const command = first === undefined || first.startsWith("-")
    ? COMMANDS[0]
    : COMMANDS.find((candidate) => candidate.name === first);
  if (command === undefined) {
    console.error(`upbus: unknown command "${first}"\n\n${help()}`);
    return 2;
  }
  const commandArgs = command === COMMANDS[0] && first !== command.name ? args : rest;
  if (commandArgs.includes("--help") || commandArgs.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(commandArgs);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`upbus ${command.name}: ${error.message}\n\n${command.usage}`);
      return 2;
    }
    // A runtime refusal names a Deno flag the user cannot pass, kafkajs a socket error: say
    // which setting to change.
    const message = explainPermissionRefusal(error) ?? kafkaProblem(error) ??
      (error instanceof Error ? error.message : String(error));
    console.error(`upbus ${command.name}: ${message}`);
    return 1;
  }
}

if (import.meta.main) {
  try {
    // Every command reads ./.env when there is one; the real environment wins over it.
    loadEnvFile();
  } catch (error) {
    console.error(`upbus: ${(error as Error).message}`);
    Deno.exit(1);
  }
  // Exit once the command is done, even if a client still holds a connection open.
  Deno.exit(await main(Deno.args));
}

/**
 * README.md's shell blocks: every command in them is exercised by a test or by the demo. Each one
 * must match an entry of {@linkcode COVERAGE}, which names the test files that run it (and a
 * string each of them holds, so a renamed test does not pass unnoticed). Beyond the map:
 * every `deno task X` names a task of deno.json, every flag README passes to an upbus command is
 * in that command's `--help`, and `.env.example` (what README says to copy to `.env`) holds only
 * variables upbus reads, with values its configuration accepts. TypeScript blocks are checked
 * apart, by `deno check --doc-only README.md` in `deno task ok`.
 *
 * Permissions: as the test task (`--allow-run=deno`, read of the project).
 */
import assert from "node:assert/strict";
import { parseEnv } from "node:util";
import { CONFIG_VARIABLES, loadConfig } from "../../lib/service/config.ts";
import { loadPipelineConfig, PIPELINE_VARIABLES } from "../../lib/service/pipeline_config.ts";
import { PROJECT_ROOT, runUpbus } from "../support/upbus_program.ts";

/** Who runs a README command: test files, each holding `marker`. */
interface Coverage {
  command: RegExp;
  by: string[];
  marker: string;
  /** Why this is enough, where it is not a plain run of the command. */
  note?: string;
}

const COVERAGE: Coverage[] = [
  { command: /^deno task demo$/, by: ["tests/cli/demo_test.ts"], marker: '"demo"' },
  {
    command: /^UPBUS_STAGES=enrich,position,notify deno task run$/,
    by: ["tests/service/run_unit_test.ts", "tests/cli/run_test.ts"],
    marker: "UPBUS_STAGES",
    note: "run_unit_test runs upbus run with those stages from its unit; run_test under the " +
      "task's own permission set (-P=run)",
  },
  {
    command: /^cp \.env\.example \.env && chmod 600 \.env$/,
    by: ["tests/project/readme_test.ts", "tests/runtime/env_file_test.ts"],
    marker: ".env",
    note: "this test checks .env.example's variables and values; env_file_test runs a command " +
      "with a .env",
  },
  {
    command: /^(KAFKA_BROKERS=\S+ (UP_WEBHOOK_SECRETS=\S+ )?)?deno task dev$/,
    by: ["tests/tasks/dev_task_test.ts"],
    marker: '"dev"',
  },
  {
    command: /^ngrok http 8080$/,
    by: ["tests/cli/register_webhook_test.ts"],
    marker: "ngrokAgentApi",
    note: "ngrok is not run here (no internet): the test answers as its agent API does",
  },
  {
    command: /^deno task register-webhook( --url \S+)?$/,
    by: ["tests/cli/register_webhook_test.ts"],
    marker: '"--url"',
  },
  { command: /^deno task webhooks list$/, by: ["tests/cli/up_cli_test.ts"], marker: '["list"]' },
  { command: /^deno task up-sim$/, by: ["tests/cli/up_cli_test.ts"], marker: "createUpSimCommand" },
  {
    command: /^export UP_API_BASE=\S+ UP_API_TOKEN=\S+$/,
    by: ["tests/cli/demo_test.ts"],
    marker: "export ",
    note: "the demo prints the same export, and its test runs the commands after it",
  },
  {
    command: /^deno task simulate transaction-(created|settled)( --amount \S+ --description \S+)?$/,
    by: ["tests/cli/up_cli_test.ts", "tests/cli/demo_test.ts"],
    marker: "transaction-",
  },
  {
    command: /^deno task simulate (flow|transfer --amount \S+ --from \S+ --to-account \S+)$/,
    by: ["tests/cli/up_cli_test.ts"],
    marker: '"--to-account"',
  },
  {
    command: /^deno task consume notify$/,
    by: ["tests/consumers/notify/notify_test.ts"],
    marker: '"notify"',
  },
  {
    command: /^deno task consume actual$/,
    by: ["tests/consumers/actual/actual_test.ts"],
    marker: '"actual"',
  },
  {
    command: /^deno task consume mqtt$/,
    by: ["tests/consumers/mqtt/mqtt_test.ts"],
    marker: '"mqtt"',
  },
  {
    command: /^deno task enrich$/,
    by: ["tests/cli/embedded_commands_test.ts"],
    marker: 'task("enrich")',
  },
  {
    command: /^deno task consume (position|console --last 5)$/,
    by: ["tests/cli/embedded_commands_test.ts"],
    marker: '"consume"',
  },
  {
    command: /^deno task consume ledger$/,
    by: ["tests/consumers/consumers_test.ts"],
    marker: "ledger",
  },
  {
    command: /^deno task backfill --since \S+$/,
    by: ["tests/enrich/backfill_test.ts", "tests/cli/embedded_commands_test.ts"],
    marker: '"--since"',
  },
  {
    command: /^export KAFKA_BROKERS=\S+ UP_API_TOKEN=\S+$/,
    by: ["tests/enrich/backfill_test.ts"],
    marker: "KAFKA_BROKERS",
  },
  {
    command: /^deno task kafka start$/,
    by: ["tests/tasks/kafka_detach_test.ts"],
    marker: "deno task kafka start --port",
    note: "the test runs it in a terminal, closes the terminal, then runs deno task kafka stop",
  },
  {
    command: /^(BODY=|SIG=\$\(openssl dgst|curl -s -X POST|kcat -C )/,
    by: ["tests/cli/serve_test.ts"],
    marker: "openssl",
    note: "the test signs the same example with openssl, posts it with curl, reads it with kcat",
  },
  {
    command: /^(\.ci\/run|deno task ok)$/,
    by: [".ci/run"],
    marker: "deno task ok",
    note: "CI runs them on a fresh clone",
  },
];

/** A shell line without its comment: a `#` at the start or after a space, outside quotes. */
function withoutComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === "#" && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

/** The commands of README's `sh` blocks: continuations joined, comments and output dropped. */
function readmeCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const [, block] of markdown.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm)) {
    const joined = block.replace(/\\\n\s*/g, "");
    for (const raw of joined.split("\n")) {
      const line = withoutComment(raw).trim();
      if (line !== "") commands.push(line.replace(/\s+/g, " "));
    }
  }
  return commands;
}

const README = Deno.readTextFileSync(`${PROJECT_ROOT}README.md`);
const TASKS: Record<string, string> = JSON.parse(
  Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`),
).tasks;

Deno.test("every command in README's shell blocks is exercised by a test or by the demo", () => {
  const commands = readmeCommands(README);
  assert.ok(commands.length >= 20, commands.join("\n"));
  const uncovered = commands.filter((command) =>
    !COVERAGE.some((entry) => entry.command.test(command))
  );
  assert.deepEqual(
    uncovered,
    [],
    "README commands no test exercises: add each to COVERAGE in tests/project/readme_test.ts with the test that runs it",
  );
  for (const entry of COVERAGE) {
    for (const file of entry.by) {
      const text = Deno.readTextFileSync(`${PROJECT_ROOT}${file}`);
      assert.ok(text.includes(entry.marker), `${file} does not mention ${entry.marker}`);
    }
  }
});

Deno.test("every deno task in README exists, and takes the flags README gives it", async () => {
  const uses = new Map<string, Set<string>>();
  for (const command of readmeCommands(README)) {
    for (const [, task, rest] of command.matchAll(/deno task ([\w:-]+)((?: [^&|;]*)?)/g)) {
      assert.ok(TASKS[task], `README runs "deno task ${task}", which deno.json lacks`);
      const flags = uses.get(task) ?? new Set<string>();
      for (const [flag] of rest.matchAll(/--[a-z][a-z-]*/g)) flags.add(flag);
      uses.set(task, flags);
    }
  }
  for (const [task, flags] of uses) {
    // Tasks that run an upbus command answer --help with its usage.
    if (!/ main\.ts \w/.test(TASKS[task])) continue;
    const help = await runUpbus({ command: "deno", prefix: ["task", task] }, ["--help"]);
    assert.equal(help.code, 0, `deno task ${task} --help: ${help.stderr}`);
    for (const flag of flags) {
      assert.ok(help.stdout.includes(flag), `deno task ${task} --help does not list ${flag}`);
    }
  }
});

Deno.test(".env.example holds only variables upbus reads, with values its configuration accepts", () => {
  const example = parseEnv(Deno.readTextFileSync(`${PROJECT_ROOT}.env.example`));
  const known = [
    ...CONFIG_VARIABLES,
    ...PIPELINE_VARIABLES,
    ...Object.values(JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).permissions)
      .flatMap((set) => (set as { env?: string[] }).env ?? []),
  ];
  // A permission set may grant a prefix: "ACTUAL_*".
  const readable = (name: string) =>
    known.some((entry) =>
      entry.endsWith("*") ? name.startsWith(entry.slice(0, -1)) : entry === name
    );
  const unknown = Object.keys(example).filter((name) => !readable(name));
  assert.deepEqual(unknown, [], "variables no permission set grants: no command could read them");
  const env = (name: string) => example[name];
  loadConfig(env);
  loadPipelineConfig(env);
});

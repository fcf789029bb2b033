/**
 * The compiled binary's permissions, checked here rather than on a Pi: the `upbus` permission set
 * that `deno task compile` bakes in is every subcommand's set together (plus /var/lib/upbus), and
 * every subcommand works under exactly the flags the binary carries (tasks/compile.ts), run from
 * source: up-sim, serve with Kafka, register-webhook, simulate and webhooks, end to end.
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../../main.ts";
import { BINARY_PERMISSION_SET, compileArgs, V8_FLAGS } from "../../tasks/compile.ts";
import { exerciseSubcommands } from "../support/subcommands.ts";
import { PROJECT_ROOT, sourceProgram } from "../support/upbus_program.ts";

/** Paths the binary may use beyond its subcommands' sets: the systemd unit's StateDirectory. */
const DEPLOY_PATHS: Record<string, string[]> = {
  read: ["/var/lib/upbus"],
  write: ["/var/lib/upbus"],
};

function* libFiles(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* libFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** A grant as deno.json writes it: a list, all (`true`), or an allow-list with a deny-list. */
type Grant = boolean | string[] | { allow: boolean | string[]; deny?: string[] };
type PermissionSet = Record<string, Grant>;

/** The allowed part of a grant: `true` (all), or a list. */
function allowed(grant: Grant | undefined): true | string[] {
  if (grant === undefined || grant === false) return [];
  if (grant === true || Array.isArray(grant)) return grant;
  return allowed(grant.allow);
}

/** The denied part of a grant. */
function denied(grant: Grant | undefined): string[] {
  return grant !== undefined && typeof grant === "object" && !Array.isArray(grant)
    ? grant.deny ?? []
    : [];
}

function permissionSets(): Record<string, PermissionSet> {
  return JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).permissions;
}

/** What `set` allows of `kind` that `other` does not: `[]` when `other` covers it. */
function notCoveredBy(set: PermissionSet, other: PermissionSet, kind: string): string[] {
  const mine = allowed(set[kind]);
  const theirs = allowed(other[kind]);
  if (theirs === true) {
    return mine === true ? [] : mine.filter((v) => denied(other[kind]).includes(v));
  }
  if (mine === true) return ["(all)"];
  return mine.filter((value) => !theirs.includes(value));
}

Deno.test("the compile task bakes in the binary's permission set and includes every Worker and asset", () => {
  const args = compileArgs();
  assert.ok(args.includes(`-P=${BINARY_PERMISSION_SET}`));
  assert.ok(args.includes("--no-prompt"));
  const included = args.flatMap((arg, i) => args[i - 1] === "--include" ? [arg] : []);
  assert.ok(included.includes("lib/store/store_worker.ts"), "the store's Worker module");
  for (const path of included) Deno.statSync(`${PROJECT_ROOT}${path}`);
  // Workers and assets are reached with `new URL("...", import.meta.url)`, outside the module
  // graph: each one must be included, or the binary fails when it first needs it.
  for (const file of libFiles(`${PROJECT_ROOT}lib`)) {
    const source = Deno.readTextFileSync(file);
    for (const [, relative] of source.matchAll(/new URL\(\s*"([^"]+)",\s*import\.meta\.url\)/g)) {
      const path = new URL(relative, `file://${file}`).pathname.slice(PROJECT_ROOT.length);
      assert.ok(included.includes(path), `${path} (used by ${file}) is not in RUNTIME_INCLUDES`);
    }
  }
  const tasks = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}deno.json`)).tasks;
  assert.match(tasks.compile, /tasks\/compile\.ts$/);
  // The service's V8 flags (its memory under load), the same for the binary and the tasks.
  assert.ok(args.includes(`--v8-flags=${V8_FLAGS}`));
  assert.ok(tasks.start.includes(`--v8-flags=${V8_FLAGS}`), `deno task start: ${tasks.start}`);
  // deno task dev runs tasks/dev.ts, which starts the service with the same flags.
  const dev = Deno.readTextFileSync(`${PROJECT_ROOT}tasks/dev.ts`);
  assert.ok(tasks.dev.endsWith("tasks/dev.ts") && dev.includes("`--v8-flags=${V8_FLAGS}`"));
  assert.match(tasks["compile:pi"], /tasks\/compile\.ts --target aarch64-unknown-linux-gnu$/);
});

Deno.test("the binary's permission set is every subcommand's set together, and nothing more", () => {
  const sets = permissionSets();
  const binary = sets[BINARY_PERMISSION_SET];
  assert.ok(binary, `deno.json has no "${BINARY_PERMISSION_SET}" permission set`);
  const union: PermissionSet = structuredClone(DEPLOY_PATHS);
  const denies: Record<string, string[]> = {};
  for (const command of COMMANDS) {
    const set = sets[command.name];
    assert.ok(
      set,
      `deno.json has no permission set for "${command.name}": give the command one (its task runs with -P=${command.name}) so the binary's set can be checked against it`,
    );
    for (const kind of Object.keys(set)) {
      const missing = notCoveredBy(set, binary, kind);
      assert.deepEqual(
        missing,
        [],
        `the "${command.name}" set grants ${kind} ${
          missing.join(", ")
        }, which the binary's "${BINARY_PERMISSION_SET}" set lacks: add it there too`,
      );
      const value = allowed(set[kind]);
      union[kind] = value === true || union[kind] === true
        ? true
        : [...new Set([...(allowed(union[kind]) as string[]), ...value])];
      denies[kind] = [...new Set([...(denies[kind] ?? []), ...denied(set[kind])])];
    }
  }
  for (const kind of Object.keys(binary)) {
    // Everything a subcommand denies, the binary denies too: it is no broader than any of them.
    assert.deepEqual(
      [...denied(binary[kind])].sort(),
      [...(denies[kind] ?? [])].sort(),
      `the binary's set must deny exactly what the subcommands' sets deny for ${kind}`,
    );
  }
  for (const kind of Object.keys(binary)) {
    const extra = notCoveredBy(binary, union, kind);
    assert.deepEqual(
      extra,
      [],
      `the binary's set grants ${kind} ${
        extra.join(", ")
      }, which no subcommand's set does: remove it, or add it to the subcommand that needs it`,
    );
  }
});

Deno.test("every subcommand works under exactly the binary's permissions", async (t) => {
  await exerciseSubcommands(t, sourceProgram());
});

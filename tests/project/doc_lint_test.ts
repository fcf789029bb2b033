/**
 * Every module's public face is documented: `deno doc --lint` over every file of `lib/` finds no
 * exported symbol without JSDoc, no public type that refers to an unexported one and no exported
 * function without its return type (issue 17.4).
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";

const ROOT = new URL("../..", import.meta.url).pathname;

async function libModules(dir = join(ROOT, "lib")): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await libModules(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) found.push(relative(ROOT, path));
  }
  return found.sort();
}

/** Runs `deno doc --lint` on `files`; resolves with its exit code and its error lines. */
async function docLint(files: string[], cwd: string): Promise<{ code: number; errors: string[] }> {
  const { code, stdout, stderr } = await new Deno.Command("deno", {
    args: ["doc", "--lint", ...files],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  const lines = text.split("\n");
  const errors: string[] = [];
  lines.forEach((line, i) => {
    if (/^error\[/.test(line)) errors.push(`${line} ${lines[i + 1]?.trim() ?? ""}`);
  });
  return { code, errors };
}

Deno.test("deno doc --lint finds an undocumented export (the check can fail)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upbus-doc-lint-" });
  try {
    await Deno.writeTextFile(
      join(dir, "mod.ts"),
      "/** @module A module. */\nexport function undocumented(): number {\n  return 1;\n}\n",
    );
    const { code, errors } = await docLint(["mod.ts"], dir);
    assert.notEqual(code, 0);
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0], /missing-jsdoc/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno doc --lint over every module of lib/ finds nothing", async () => {
  const files = await libModules();
  assert.ok(files.length > 100, `lib/ holds ${files.length} modules`);
  const { code, errors } = await docLint(files, ROOT);
  assert.deepEqual(errors, [], `deno doc --lint:\n${errors.join("\n")}`);
  assert.equal(code, 0);
});

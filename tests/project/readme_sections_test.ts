/**
 * Every section of README.md or docs/*.md that the code points a user to exists: a message such
 * as `README.md, "With your Up account"` or `(see docs/kafka.md, Permissions)` names a heading
 * of that file, word for word. README says how to install kcat before it uses it.
 *
 * Permissions: read of the project.
 */
import assert from "node:assert/strict";
import { PROJECT_ROOT } from "../support/upbus_program.ts";

/** A pointer to a section: `README.md, "Title"` or `(see docs/x.md, Title)`. */
const POINTERS = [
  /(README\.md|docs\/[\w.-]+\.md), "([^"]+)"/g,
  /\(see (README\.md|docs\/[\w.-]+\.md), ([^)"]+)\)/g,
];

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(`${PROJECT_ROOT}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (/\.(ts|mjs|js)$/.test(entry.name)) yield path;
  }
}

function headings(markdown: string): Set<string> {
  const titles = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const match = !fenced && /^#{1,6}\s+(.*?)\s*$/.exec(line);
    if (match) titles.add(match[1]);
  }
  return titles;
}

Deno.test("every README or docs section the code names is a heading of that file", async () => {
  const pointers: Array<{ file: string; doc: string; section: string }> = [];
  for (const dir of ["lib", "tasks"]) {
    for await (const file of sourceFiles(dir)) {
      const text = await Deno.readTextFile(`${PROJECT_ROOT}/${file}`);
      for (const pattern of POINTERS) {
        for (const [, doc, section] of text.matchAll(pattern)) {
          pointers.push({ file, doc, section: section.trim() });
        }
      }
    }
  }
  const main = await Deno.readTextFile(`${PROJECT_ROOT}/main.ts`);
  for (const pattern of POINTERS) {
    for (const [, doc, section] of main.matchAll(pattern)) {
      pointers.push({ file: "main.ts", doc, section: section.trim() });
    }
  }
  assert.ok(
    pointers.some((pointer) => pointer.file.endsWith("demo.ts")),
    "the demo's pointer to README is found (the patterns still match the code)",
  );
  const missing: string[] = [];
  for (const { file, doc, section } of pointers) {
    const titles = headings(await Deno.readTextFile(`${PROJECT_ROOT}/${doc}`));
    if (!titles.has(section)) missing.push(`${file} names ${doc}, "${section}"`);
  }
  assert.deepEqual(missing, [], "sections that do not exist");
});

Deno.test("README says how to install kcat where it reads records back with it", async () => {
  const readme = await Deno.readTextFile(`${PROJECT_ROOT}/README.md`);
  const first = readme.search(/^kcat /m);
  assert.ok(first > 0, "README reads records back with kcat");
  const before = readme.slice(0, first);
  assert.match(before, /apt install kcat/, "the Debian package, before its first use");
  assert.match(before, /brew install kcat/, "the Homebrew formula, before its first use");
});

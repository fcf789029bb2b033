/**
 * The house by stage, kept true: the flow diagram at the top of docs/internals.md names every
 * folder of `lib/` and only folders that exist, and the import graph has no cycle and goes one
 * way (a stage never imports another stage; nothing imports the wiring).
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";

const ROOT = new URL("../..", import.meta.url).pathname;
const INTERNALS = await Deno.readTextFile(join(ROOT, "docs/internals.md"));

/** Stages of the flow: each may import the layers, never another stage. */
const STAGES = ["webhook", "relay", "enrich", "consumers"];
/** Layers every stage may use, lowest first: a layer imports only those before it. */
const LAYERS = ["runtime", "up", "store", "bus"];
/** What starts the stages: may import anything, imported by nothing in lib/ but itself. */
const WIRING = ["service", "cli"];
/** The simulator, a tool that ships: imports the layers and the signature it signs with. */
const TOOLS = ["up_sim"];

async function libFolders(dir = "lib"): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    if (!entry.isDirectory) continue;
    const path = `${dir}/${entry.name}`;
    found.push(path, ...await libFolders(path));
  }
  return found.sort();
}

function mermaidBlock(text: string): string {
  const match = text.match(/```mermaid\n([\s\S]*?)```/);
  assert.ok(match, "docs/internals.md has a ```mermaid block");
  assert.ok(
    text.indexOf("```mermaid") < text.indexOf("## From Up's request"),
    "the diagram comes before the first section of detail",
  );
  return match[1];
}

Deno.test("docs/internals.md opens with a flow diagram that names every folder of lib/", async () => {
  const diagram = mermaidBlock(INTERNALS);
  const named = new Set([...diagram.matchAll(/\blib\/[a-z_/]+\//g)].map((m) => m[0].slice(0, -1)));
  for (const folder of named) {
    const stat = await Deno.stat(join(ROOT, folder)).catch(() => null);
    assert.ok(stat?.isDirectory, `the diagram names ${folder}/, which does not exist`);
  }
  const folders = await libFolders();
  const topLevel = folders.filter((f) => f.split("/").length === 2);
  for (const folder of [...topLevel, "lib/bus/kafka", "lib/bus/local"]) {
    assert.ok(named.has(folder), `the diagram does not name ${folder}/`);
  }
  for (const folder of folders) {
    assert.ok(
      INTERNALS.includes(`${folder}/`) || INTERNALS.includes(`${folder.split("/").pop()}/`),
      `docs/internals.md does not name ${folder}/`,
    );
  }
  for (const folder of topLevel) {
    const name = folder.split("/")[1];
    assert.ok(
      [...STAGES, ...LAYERS, ...WIRING, ...TOOLS].includes(name),
      `${folder}/ is neither a stage, a layer, the wiring nor a tool: give it its place in tests/project/layout_test.ts`,
    );
  }
});

Deno.test("lib/ holds no loose files: every module lives in the folder of its stage", async () => {
  const loose: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "lib"))) {
    if (entry.isFile) loose.push(entry.name);
  }
  assert.deepEqual(loose, []);
});

interface ModuleGraph {
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
  }[];
}

async function importGraph(): Promise<Map<string, Set<string>>> {
  const edges = new Map<string, Set<string>>();
  const roots = ["main.ts", "lib/store/store_worker.ts", "lib/relay/relay_worker.ts"];
  for (const root of roots) {
    const output = await new Deno.Command("deno", {
      args: ["info", "--json", root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.ok(output.success, `deno info ${root}`);
    const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as ModuleGraph;
    const local = (specifier: string) =>
      specifier.startsWith("file://") ? relative(ROOT, new URL(specifier).pathname) : null;
    for (const module of graph.modules) {
      const from = local(module.specifier);
      if (!from) continue;
      const targets = edges.get(from) ?? new Set<string>();
      for (const dependency of module.dependencies ?? []) {
        for (const to of [dependency.code?.specifier, dependency.type?.specifier]) {
          const path = to && local(to);
          if (path) targets.add(path);
        }
      }
      edges.set(from, targets);
    }
  }
  return edges;
}

function cycles(edges: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "open") found.push(stack.slice(stack.indexOf(next)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node);
  return found;
}

const folderOf = (path: string) => path.startsWith("lib/") ? path.split("/")[1] : path;

Deno.test("imports have no cycle and go one way: stages never import each other or the wiring", async () => {
  const edges = await importGraph();
  assert.ok(edges.size > 50, `the graph has ${edges.size} modules`);
  assert.deepEqual(cycles(edges), [], "import cycles");
  const wrong: string[] = [];
  for (const [from, targets] of edges) {
    if (!from.startsWith("lib/")) continue;
    const a = folderOf(from);
    for (const to of targets) {
      if (!to.startsWith("lib/")) continue;
      const b = folderOf(to);
      if (a === b) continue;
      const allowed = WIRING.includes(a) ||
        (LAYERS.includes(b)) ||
        (TOOLS.includes(a) && to === "lib/webhook/signature.ts");
      const layerUp = LAYERS.includes(a) && LAYERS.indexOf(b) > LAYERS.indexOf(a);
      if (!allowed || layerUp || WIRING.includes(b) && !WIRING.includes(a)) {
        wrong.push(`${from} -> ${to}`);
      }
    }
  }
  assert.deepEqual(wrong, [], "imports against the flow");
});

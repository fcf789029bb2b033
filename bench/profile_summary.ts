/**
 * Summarizes V8 CPU profiles (`.cpuprofile`, as `deno run --cpu-prof` writes them, one per
 * isolate: the main thread and each worker): busy time, time per origin (upbus's own files,
 * each npm package, Deno's runtime, garbage collection), and the functions with the most self
 * time, optionally per event when told how many events the profile covers.
 *
 * Usage: deno run --allow-read bench/profile_summary.ts [--events N] [--top 25] FILE...
 *
 * @module
 */
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function comes from, in a few words. */
function origin(url: string, name: string): string {
  if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") return name;
  if (url === "") return "(native/V8)";
  const npm = /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  const lib = /\/(lib\/.+|bench\/.+|main\.ts)$/.exec(url);
  if (lib) return lib[1];
  if (url.startsWith("ext:") || url.startsWith("node:")) {
    return url.split("/")[0].split(":")[0] + ":" + url.split(":")[1].split("/")[0];
  }
  return url;
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { events: { type: "string" }, top: { type: "string", default: "25" } },
});
const events = values.events === undefined ? undefined : Number(values.events);
const top = Number(values.top);

for (const file of positionals) {
  const profile = JSON.parse(Deno.readTextFileSync(file)) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = (profile.endTime - profile.startTime) / 1000;
  let idle = 0;
  const perOrigin = new Map<string, number>();
  const perFunction = new Map<string, number>();
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const ms = micros / 1000;
    if (functionName === "(idle)") {
      idle += ms;
      continue;
    }
    const where = origin(url, functionName);
    perOrigin.set(where, (perOrigin.get(where) ?? 0) + ms);
    const key = `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
    perFunction.set(key, (perFunction.get(key) ?? 0) + ms);
  }
  const busy = total - idle;
  const per = (ms: number) =>
    events === undefined ? "" : `  ${((ms * 1000) / events).toFixed(1).padStart(7)} µs/event`;
  console.log(`\n${file}`);
  console.log(
    `  profiled ${total.toFixed(0)} ms, busy ${busy.toFixed(0)} ms (${
      ((busy / total) * 100).toFixed(0)
    } %)${per(busy)}`,
  );
  console.log("  by origin (self time):");
  for (const [where, ms] of [...perOrigin].sort((a, b) => b[1] - a[1]).slice(0, 14)) {
    console.log(
      `    ${ms.toFixed(0).padStart(7)} ms ${((ms / busy) * 100).toFixed(1).padStart(5)} %${
        per(ms)
      }  ${where}`,
    );
  }
  console.log(`  top ${top} functions (self time):`);
  for (const [key, ms] of [...perFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `    ${ms.toFixed(0).padStart(7)} ms ${((ms / busy) * 100).toFixed(1).padStart(5)} %${
        per(ms)
      }  ${key}`,
    );
  }
}

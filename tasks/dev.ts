/**
 * `deno task dev`: the service, restarted when `main.ts` or a file under `lib/` changes, and
 * stopped, with the service's orderly shutdown, on Ctrl-C or SIGTERM.
 *
 * Deno's `--watch` runs the program inside the watcher: the service's SIGTERM handler takes the
 * signal, the program ends, and the watcher waits for the next file change instead of exiting.
 * So this small watcher runs the service as a child (`deno run -P=serve main.ts serve`, in its
 * own process group so a terminal's Ctrl-C reaches it once, through here) and exits with it.
 *
 * A service that stops on its own before any file changed (a port in use, a wrong setting) ends
 * the task with its exit code: there is nothing to wait for. After a change, a service that
 * fails to start waits for the next save, as a watcher should. `--help` prints what it does and
 * the service's settings.
 *
 * Permissions: `--allow-run=deno --allow-read=main.ts,lib`.
 *
 * @module
 */
import { V8_FLAGS } from "./compile.ts";

const WATCHED = ["main.ts", "lib"];
const SERVE = ["run", "-q", "-P=serve", `--v8-flags=${V8_FLAGS}`, "main.ts", "serve"];

const HELP = `Usage: deno task dev

Runs the webhook service (upbus serve) and restarts it when main.ts or a file under lib/
changes; Ctrl-C or SIGTERM stops both. If the service stops before any file changed (a port
in use, a wrong setting), the task exits with its code. The service's settings:
`;

function start(): Deno.ChildProcess {
  return new Deno.Command("deno", { args: SERVE, detached: true }).spawn();
}

async function stop(child: Deno.ChildProcess): Promise<number> {
  try {
    child.kill("SIGTERM");
  } catch { /* exited already */ }
  return (await child.status).code;
}

/** Prints the help, then `upbus serve --help` (the settings the service reads). */
async function help(): Promise<number> {
  console.log(HELP);
  const serve = new Deno.Command("deno", { args: [...SERVE, "--help"] }).spawn();
  return (await serve.status).code;
}

async function dev(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) return await help();
  if (args.length > 0) {
    console.error(`dev: unexpected argument "${args[0]}"; see deno task dev --help`);
    return 2;
  }
  let child = start();
  let anyChange = false;
  let restarting: Promise<void> | undefined;
  let changed = Promise.withResolvers<"changed">();
  const { promise: signalled, resolve } = Promise.withResolvers<"signal">();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => resolve("signal"));
  }
  const watcher = Deno.watchFs(WATCHED);
  const watching = (async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    for await (const event of watcher) {
      if (!event.paths.some((path) => path.endsWith(".ts"))) continue;
      clearTimeout(timer);
      timer = setTimeout(() => {
        console.error("dev: a file changed, restarting the service");
        restarting ??= (async () => {
          await stop(child);
          child = start();
        })();
        anyChange = true;
        changed.resolve("changed");
        changed = Promise.withResolvers<"changed">();
      }, 200);
    }
    clearTimeout(timer);
  })();
  try {
    while (true) {
      const outcome = await Promise.race([signalled, child.status.then(() => "exited" as const)]);
      if (outcome === "signal") {
        await restarting;
        return await stop(child);
      }
      if (restarting !== undefined) {
        await restarting;
        restarting = undefined;
        continue;
      }
      const { code } = await child.status;
      if (!anyChange) {
        // Nothing was edited, so nothing would be different on a restart: say so and end.
        console.error(`dev: the service exited (code ${code}) before any file changed; stopping`);
        return code === 0 ? 1 : code;
      }
      console.error(`dev: the service exited (code ${code}); save a file to start it again`);
      if (await Promise.race([signalled, changed.promise]) === "signal") return code;
      await restarting;
      restarting = undefined;
    }
  } finally {
    watcher.close();
    await watching;
  }
}

if (import.meta.main) Deno.exit(await dev(Deno.args));

/**
 * Benchmark: the resident memory of `upbus run` (the service with the stages enrich, position and
 * notify in one process, embedded mode) beside the sum of the four separate processes that do the
 * same (`deno task start`, `enrich`, `consume position`, `consume notify`), measured in the same
 * run on the same work: the Up simulator's month (`up-sim --month`: its seeded history, brought in
 * by `deno task backfill`), then 1 000 more purchases delivered as webhooks, each reaching the
 * dashboard and a notify target (a loopback ntfy in this process). Each process is started as its
 * task starts it (the task's own `deno run` line from deno.json); RSS and peak RSS (VmHWM) are read
 * from /proc once every purchase reached the dashboard and the target.
 *
 * Usage: deno task bench:run [--events 1000]
 *
 * Permissions: `--allow-run=deno,python3`, `--allow-net=127.0.0.1`, `--allow-read=.`,
 * `--allow-write=./data`, `--allow-env=HOME,PATH,DENO_DIR`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createSimulatorControl } from "../lib/up_sim/control.ts";
import { serveUpSimulator } from "../lib/up_sim/server.ts";
import { sampleProcess } from "./proc_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { events: { type: "string", default: "1000" } },
});
const EVENTS = Number(values.events);
const root = new URL("..", import.meta.url).pathname;
const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks;

/** A task's `deno run ...` line as arguments, then `extra`. */
function taskArgs(task: string, extra: string[] = []): string[] {
  const words = tasks[task].split(/\s+/);
  if (words[0] !== "deno") throw new Error(`Cannot bench ${task}: its task is not deno run`);
  return [...words.slice(1), ...extra];
}

interface Child {
  name: string;
  process: Deno.ChildProcess;
  lines: string[];
}

/** Starts `deno <args>` and waits for a log line with `msg`. */
async function start(
  name: string,
  args: string[],
  env: Record<string, string>,
  msg: string,
): Promise<Child> {
  const process = new Deno.Command("deno", {
    args,
    cwd: root,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  (async () => {
    let buffer = "";
    for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.includes(`"msg":"${msg}"`)) resolve();
      }
    }
    reject(new Error(`${name} exited before "${msg}":\n${lines.join("\n")}`));
  })();
  const timer = setTimeout(() => reject(new Error(`${name}: no "${msg}" within 60 s`)), 60_000);
  try {
    await promise;
  } finally {
    clearTimeout(timer);
  }
  return { name, process, lines };
}

function logged(child: Child, msg: string, field: string): string {
  for (const line of child.lines) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    return String(JSON.parse(line)[field]);
  }
  throw new Error(`${child.name} logged no "${msg}"`);
}

async function waitFor(
  check: () => Promise<boolean> | boolean,
  what: string | (() => string),
  ms = 60_000,
) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface Figures {
  rssMiB: number[];
  peakMiB: number[];
  seconds: number;
}

/** One configuration: fresh simulator, target and data directory; the same work. */
async function measure(
  separate: boolean,
  extraEnv: Record<string, string> = {},
): Promise<Figures> {
  const dataDir = `${root}data/bench-run-${crypto.randomUUID()}`;
  await Deno.mkdir(dataDir, { recursive: true });
  // Up allows 1 000 requests an hour; the enricher asks once per purchase, so the bench's
  // simulator allows more (the memory is the question here, not Up's limit).
  const sim = serveUpSimulator({
    port: 0,
    seedMonth: true,
    retryDelaysMs: [200, 1000, 5000],
    rateLimitPerHour: 100_000,
  });
  const webhook = sim.bank.addWebhook("http://127.0.0.1:1/webhook", "bench");
  let notified = 0;
  const target = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    await request.text();
    notified++;
    return Response.json({ id: String(notified) });
  });
  await Deno.writeTextFile(
    `${dataDir}/notify.yaml`,
    `targets:
  phone:
    type: ntfy
    url: http://127.0.0.1:${target.addr.port}/ntfy
    topic: bench
    rate_per_minute: 100000
    initial_delay_ms: 50
rules:
  - name: bench purchases
    match: { description: "^Bench " }
    notify:
      - target: phone
        message: "{{description}} {{amount}}"
`,
  );
  const env: Record<string, string> = {
    NO_COLOR: "1",
    DATA_DIR: dataDir,
    HOST: "127.0.0.1",
    PORT: "0",
    DASHBOARD_PORT: "0",
    UP_API_BASE: sim.baseUrl,
    UP_API_TOKEN: sim.token,
    UP_WEBHOOK_SECRETS: webhook.secretKey,
    NOTIFY_RULES: `${dataDir}/notify.yaml`,
    // Every delivery comes from 127.0.0.1 here, hundreds at once while the purchases are made:
    // at the default cap of 32 per client most were refused and the simulator gave up on them.
    MAX_CLIENT_CONNECTIONS: "1024",
    MAX_CONNECTIONS: "1024",
    LOG_LEVEL: "info",
    LOG_FORMAT: "json",
    UPBUS_STAGES: "enrich,position,notify",
    ...extraEnv,
  };
  for (const name of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const children: Child[] = [];
  const started = performance.now();
  try {
    let webhookUrl: string;
    let dashboard: Child;
    if (separate) {
      const serve = await start("serve", taskArgs("start"), env, "listening");
      children.push(serve);
      webhookUrl = logged(serve, "listening", "url");
      children.push(await start("enrich", taskArgs("enrich"), env, "enricher running"));
      dashboard = await start(
        "consume position",
        taskArgs("consume", ["position"]),
        env,
        "dashboard listening",
      );
      children.push(dashboard);
      children.push(
        await start("consume notify", taskArgs("consume", ["notify"]), env, "consumer running"),
      );
    } else {
      dashboard = await start("run", taskArgs("run"), env, "every stage running");
      children.push(dashboard);
      webhookUrl = logged(dashboard, "every stage running", "webhook");
    }
    webhook.url = webhookUrl;
    const dashboardUrl = logged(dashboard, "dashboard listening", "url");
    // The month of history, as a user's first backfill brings it.
    const since = new Date(Date.now() - 100 * 86_400_000).toISOString().slice(0, 10);
    const backfill = await new Deno.Command("deno", {
      args: taskArgs("backfill", ["--since", since]),
      cwd: root,
      clearEnv: true,
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!backfill.success) throw new Error(new TextDecoder().decode(backfill.stderr));
    const control = createSimulatorControl({ baseUrl: sim.baseUrl, token: sim.token });
    for (let i = 0; i < EVENTS; i += 10) {
      await Promise.all(
        Array.from(
          { length: Math.min(10, EVENTS - i) },
          (_, j) =>
            control.createTransaction({
              amount: `-${(1 + ((i + j) % 50)).toFixed(2)}`,
              description: `Bench ${i + j}`,
            }),
        ),
      );
    }
    const transactions = sim.bank.transactions.length;
    let onDashboard = "none yet";
    await waitFor(async () => {
      const response = await fetch(new URL("metrics", dashboardUrl));
      const text = await response.text();
      const count = text.match(/^upbus_position_transactions(?:\{[^}]*\})? (\d+)$/m);
      const deliveries: Record<string, number> = {};
      for (const log of sim.bank.logs) {
        const key = `${log.deliveryStatus} ${log.response?.statusCode ?? ""}`.trim();
        deliveries[key] = (deliveries[key] ?? 0) + 1;
      }
      onDashboard = `${count?.[1] ?? `no count (HTTP ${response.status})`}; Up's deliveries: ${
        JSON.stringify(deliveries)
      }; warnings: ${
        children.flatMap((child) => child.lines.filter((line) => line.includes('"warn"')))
          .slice(-8).join("\n")
      }`;
      return count !== null && Number(count[1]) >= transactions;
    }, () => `${transactions} transactions on the dashboard (it shows ${onDashboard})`);
    await waitFor(() => notified >= EVENTS, `${EVENTS} notifications`);
    const seconds = (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const samples = await Promise.all(children.map((child) => sampleProcess(child.process.pid)));
    return {
      rssMiB: samples.map((sample) => sample.rss / 1024 / 1024),
      peakMiB: samples.map((sample) => sample.peakRss / 1024 / 1024),
      seconds,
    };
  } finally {
    for (const child of children) {
      try {
        child.process.kill("SIGTERM");
      } catch { /* gone */ }
      await child.process.status;
    }
    await target.shutdown();
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** deploy/upbus-run.service's Environment= lines but DATA_DIR (the V8 heap cap). */
const unitEnv: Record<string, string> = {};
for (const line of (await Deno.readTextFile(`${root}deploy/upbus-run.service`)).split("\n")) {
  const match = line.match(/^Environment=([A-Z0-9_]+)=(.*)$/);
  if (match && match[1] !== "DATA_DIR") unitEnv[match[1]] = match[2];
}
const one = await measure(false);
const unit = await measure(false, unitEnv);
const apart = await measure(true);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const mib = (value: number) => `${value.toFixed(0)} MiB`;
console.log(
  `upbus run (service + enrich + position + notify), embedded mode, up-sim --month history + ${EVENTS} purchases to dashboard and ntfy:`,
);
console.log(
  `  one process:          RSS ${mib(one.rssMiB[0])} (peak ${mib(one.peakMiB[0])}), work done in ${
    one.seconds.toFixed(1)
  } s`,
);
console.log(
  `  one, as its unit runs it (${
    Object.entries(unitEnv).map(([name, value]) => `${name}=${value}`).join(" ")
  }): RSS ${mib(unit.rssMiB[0])} (peak ${mib(unit.peakMiB[0])}), work done in ${
    unit.seconds.toFixed(1)
  } s`,
);
console.log(
  `  separate processes:   RSS ${mib(sum(apart.rssMiB))} in all (${
    apart.rssMiB.map(mib).join(" + ")
  }; peak ${mib(sum(apart.peakMiB))}), work done in ${apart.seconds.toFixed(1)} s`,
);
console.log(
  `  one / separate:       ${
    (one.rssMiB[0] / sum(apart.rssMiB)).toFixed(2)
  } (target: one process < 150 MiB)`,
);

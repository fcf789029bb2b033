/**
 * What a process costs, read from Linux's /proc: resident memory (now and peak), CPU time, and
 * wake-ups (voluntary context switches: a thread that slept and was woken), summed over all its
 * threads. Used by the benchmark for idle and under-load figures.
 *
 * Deno grants /proc/<pid> only with --allow-all, so a small python3 reads the files (the
 * benchmark runs python3 already).
 *
 * Permissions: `--allow-run=python3`.
 *
 * @module
 */

/** One reading of a process. */
export interface ProcSample {
  /** When, `performance.now()` ms. */
  at: number;
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size since start, bytes. */
  peakRss: number;
  /** User + system CPU time since start, seconds. */
  cpuSeconds: number;
  /** Voluntary context switches of all live threads since they started. */
  wakeups: number;
  /** Involuntary context switches (preempted) of all live threads. */
  preempted: number;
  threads: number;
  /** CPU seconds of each live thread, by thread id, with the thread's name. */
  threadCpu: Map<string, { name: string; cpuSeconds: number }>;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ): 100 on every Linux build in use. */
const USER_HZ = 100;

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status);
  return match ? Number(match[1]) : 0;
}

/** User + system CPU seconds from a `stat` line. */
function cpuOf(stat: string): number {
  // Fields after the command name (which may hold spaces), from field 3 on.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** Prints, as JSON, the process's stat and status and each thread's status. */
const READ_PROC = `
import json, os, sys
pid = sys.argv[1]
def read(path):
    try:
        with open(path) as f: return f.read()
    except OSError: return None
tids = os.listdir(f"/proc/{pid}/task")
tasks = [read(f"/proc/{pid}/task/{t}/status") for t in tids]
stats = {t: read(f"/proc/{pid}/task/{t}/stat") for t in tids}
print(json.dumps({"stat": read(f"/proc/{pid}/stat"), "status": read(f"/proc/{pid}/status"),
                  "tasks": [t for t in tasks if t is not None],
                  "threads": {t: s for t, s in stats.items() if s is not None}}))
`;

/**
 * Reads a process's figures now.
 *
 * @param pid The process.
 * @returns The reading.
 * @throws {Error} If the process is gone.
 */
export async function sampleProcess(pid: number): Promise<ProcSample> {
  const { success, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", READ_PROC, String(pid)],
    stdin: "null",
  }).output();
  const at = performance.now();
  if (!success) {
    throw new Error(`Cannot read /proc/${pid}: ${new TextDecoder().decode(stderr).trim()}`);
  }
  const files = JSON.parse(new TextDecoder().decode(stdout)) as {
    stat: string;
    status: string;
    tasks: string[];
    threads: Record<string, string>;
  };
  const { stat, status } = files;
  const threadCpu = new Map(
    Object.entries(files.threads).map(([tid, line]) => [tid, {
      name: line.slice(line.indexOf("(") + 1, line.lastIndexOf(")")),
      cpuSeconds: cpuOf(line),
    }]),
  );
  const cpuSeconds = cpuOf(stat);
  return {
    at,
    rss: statusField(status, "VmRSS") * 1024,
    peakRss: statusField(status, "VmHWM") * 1024,
    cpuSeconds,
    wakeups: files.tasks.reduce(
      (sum, task) => sum + statusField(task, "voluntary_ctxt_switches"),
      0,
    ),
    preempted: files.tasks.reduce(
      (sum, task) => sum + statusField(task, "nonvoluntary_ctxt_switches"),
      0,
    ),
    threads: files.tasks.length,
    threadCpu,
  };
}

/** What a process did between two readings. */
export interface ProcUsage {
  seconds: number;
  /** CPU used, as a share of one core (0.01 = 1 %). */
  cpuShare: number;
  /** Wake-ups per second, all threads. */
  wakeupsPerSecond: number;
  /** Resident memory at the end, bytes. */
  rss: number;
  threads: number;
}

/**
 * The usage between two readings of one process.
 *
 * @param before The earlier reading.
 * @param after The later one.
 * @returns CPU share, wake-ups per second and memory.
 */
export function usageBetween(before: ProcSample, after: ProcSample): ProcUsage {
  const seconds = (after.at - before.at) / 1000;
  return {
    seconds,
    cpuShare: (after.cpuSeconds - before.cpuSeconds) / seconds,
    wakeupsPerSecond: Math.max(0, after.wakeups - before.wakeups) / seconds,
    rss: after.rss,
    threads: after.threads,
  };
}

/**
 * CPU seconds each kind of thread used between two readings of one Deno process: the main
 * thread (HTTP), each named worker, V8's helper threads (GC, compiler) and tokio's (async ops,
 * blocking work such as WebCrypto).
 *
 * @param pid The process (its main thread has the same id).
 * @param before The earlier reading.
 * @param after The later one.
 * @param names Names for worker threads, by thread name (`worker-1` is the first Worker).
 * @returns CPU seconds by kind.
 */
export function cpuByThread(
  pid: number,
  before: ProcSample,
  after: ProcSample,
  names: Record<string, string> = {},
): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const [tid, thread] of after.threadCpu) {
    const used = thread.cpuSeconds - (before.threadCpu.get(tid)?.cpuSeconds ?? 0);
    const kind = tid === String(pid) ? "main thread" : names[thread.name] ??
      (thread.name.startsWith("V8 ")
        ? "V8 helper threads"
        : thread.name.startsWith("tokio")
        ? "tokio threads"
        : `thread ${thread.name}`);
    kinds.set(kind, (kinds.get(kind) ?? 0) + used);
  }
  return kinds;
}

/**
 * The pid of the Kafka broker that `deno task kafka start --port N` (or the tests) started for
 * `port`, found by its data directory on its command line; `undefined` when none is.
 *
 * @param port The broker's client port.
 */
export async function findBrokerPid(port: number): Promise<number | undefined> {
  const script = `
import os, re, sys
pattern = re.compile(r"/\\.kafka/(test-)?" + sys.argv[1] + r"/")
for pid in os.listdir("/proc"):
    if not pid.isdigit(): continue
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f: cmd = f.read().decode(errors="replace")
    except OSError: continue
    if "java" in cmd and pattern.search(cmd): print(pid); break
`;
  const { stdout } = await new Deno.Command("python3", {
    args: ["-c", script, String(port)],
    stdin: "null",
  }).output();
  const pid = Number(new TextDecoder().decode(stdout).trim());
  return pid > 0 ? pid : undefined;
}

/**
 * `deno task kafka start` says the broker runs in the background: it must outlive the terminal
 * it was started from. Each test starts the real task inside a real terminal (a tmux session on
 * a tmux server of its own), waits for "running", closes the terminal with `tmux kill-session`
 * (the pane's processes get SIGHUP, as when a terminal window is closed), then checks with kcat
 * that the broker still answers and stops it with `deno task kafka stop`.
 *
 * Permissions: `--allow-run=deno,java,tmux,kcat`, `--allow-net=127.0.0.1`, read and write of
 * `.`, `/tmp` and `$HOME/.cache/upbus`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { answersKafka } from "../../tasks/kafka/probe.ts";
import { PROJECT_ROOT } from "../../tasks/kafka/defaults.ts";
import { stopBroker } from "../../tasks/kafka/state.ts";

const decoder = new TextDecoder();

/** A loopback port nothing listens on now, with `alsoFree` more free after it (`port + n`). */
function freePort(alsoFree: number[] = []): number {
  for (;;) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    const others = alsoFree.map((offset) => port + offset);
    if (others.every((other) => other <= 65535 && isFree(other))) return port;
  }
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

async function run(program: string, args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(program, {
    args,
    cwd: PROJECT_ROOT,
    stdin: "null",
  }).output();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** A tmux server of this test only (its own socket, no user configuration). */
class Terminal implements AsyncDisposable {
  readonly socket = `upbus-detach-${crypto.randomUUID().slice(0, 8)}`;

  tmux(args: string[]) {
    return run("tmux", ["-L", this.socket, "-f", "/dev/null", ...args]);
  }

  /** Opens a terminal running `script` with `sh` in the project directory. */
  async open(session: string, script: string): Promise<void> {
    const { code, output } = await this.tmux([
      "new-session",
      "-d",
      "-s",
      session,
      "-c",
      PROJECT_ROOT,
      "-x",
      "160",
      "-y",
      "40",
      script,
    ]);
    assert.equal(code, 0, `tmux new-session failed: ${output}`);
  }

  /** Closes a terminal as its window manager would: SIGHUP to what runs in it. */
  async close(session: string): Promise<void> {
    const { code, output } = await this.tmux(["kill-session", "-t", session]);
    assert.equal(code, 0, `tmux kill-session failed: ${output}`);
  }

  async [Symbol.asyncDispose]() {
    await this.tmux(["kill-server"]);
  }
}

/** Waits for `done <code>` at the end of a file the terminal's script writes. */
async function waitForExit(file: string, timeoutMs = 240_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await Deno.readTextFile(file).catch(() => "");
    if (/^done \d+$/m.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`Cannot see the task finish in ${file}:\n${text}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

/** Asserts the port keeps answering Kafka requests for `ms` after the terminal closed. */
async function assertKeepsAnswering(port: number, logFile: string, ms = 8_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await answersKafka(port))) {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      const hup = log.split("\n").filter((line) => /signal/i.test(line)).join("\n");
      assert.fail(`the broker on port ${port} died with its terminal\n${hup}`);
    }
    await new Promise((done) => setTimeout(done, 500));
  }
  const { code, output } = await run("kcat", ["-L", "-b", `127.0.0.1:${port}`, "-m", "10"]);
  assert.equal(code, 0, `kcat -L failed: ${output}`);
  assert.match(output, new RegExp(`broker 1 at 127\\.0\\.0\\.1:${port}`));
  const log = await Deno.readTextFile(logFile);
  assert.doesNotMatch(log, /Terminating process due to signal/);
}

Deno.test("a broker from `deno task kafka start` survives the terminal it was started in", async () => {
  const port = freePort([1]);
  const controllerPort = port + 1;
  const dataDir = join(PROJECT_ROOT, ".kafka", String(port));
  const tmp = await Deno.makeTempDir({ prefix: "upbus-detach-" });
  const out = join(tmp, "start.out");
  await using terminal = new Terminal();
  try {
    await terminal.open(
      "start",
      `deno task kafka start --port ${port} --controller-port ${controllerPort} > ${out} 2>&1; ` +
        `echo "done $?" >> ${out}; exec sleep 600`,
    );
    const started = await waitForExit(out);
    assert.match(started, /^done 0$/m, started);
    assert.match(started, new RegExp(`is running on 127\\.0\\.0\\.1:${port}`));

    await terminal.close("start");
    await assertKeepsAnswering(port, join(dataDir, "logs", "server.log"));

    const stopped = await run("deno", ["task", "kafka", "stop", "--port", String(port)]);
    assert.equal(stopped.code, 0, stopped.output);
    assert.match(
      stopped.output,
      new RegExp(`Stopped Kafka on 127\\.0\\.0\\.1:${port} \\(pid \\d+; clean shutdown\\)`),
    );
    assert.equal(await answersKafka(port), false);
  } finally {
    await stopBroker({ dataDir }).catch(() => {});
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a cluster from `deno task kafka start --nodes` survives the terminal it was started in", async () => {
  // One node: the same start path as three, for a third of the JVMs.
  const port = freePort([10]);
  const clusterDir = join(PROJECT_ROOT, ".kafka", `cluster-${port}`);
  const tmp = await Deno.makeTempDir({ prefix: "upbus-detach-" });
  const out = join(tmp, "start.out");
  await using terminal = new Terminal();
  try {
    await terminal.open(
      "cluster",
      `deno task kafka start --nodes 1 --port ${port} > ${out} 2>&1; ` +
        `echo "done $?" >> ${out}; exec sleep 600`,
    );
    const started = await waitForExit(out);
    assert.match(started, /^done 0$/m, started);
    assert.match(started, /A 1-node Kafka cluster is running/);

    await terminal.close("cluster");
    await assertKeepsAnswering(port, join(clusterDir, "node-1", "logs", "server.log"));

    const stopped = await run("deno", [
      "task",
      "kafka",
      "stop",
      "--nodes",
      "1",
      "--port",
      String(port),
    ]);
    assert.equal(stopped.code, 0, stopped.output);
    assert.match(stopped.output, /^Node 1: stopped\.$/m);
    assert.equal(await answersKafka(port), false);
  } finally {
    await stopBroker({ dataDir: join(clusterDir, "node-1") }).catch(() => {});
    await Deno.remove(clusterDir, { recursive: true }).catch(() => {});
    await Deno.remove(tmp, { recursive: true });
  }
});

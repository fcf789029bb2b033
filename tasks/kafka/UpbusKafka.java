import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The upbus Kafka helper, compiled with javac by tasks/kafka/helper.ts into the jar cache
 * (~/.cache/upbus/kafka/helper-<hash of this file>) and run with `java -cp`:
 *
 * <ul>
 *   <li>{@code spawn LOG CMD...} starts a command detached and prints its pid: in a session
 *       of its own (through util-linux {@code setsid}), so with no controlling terminal and out
 *       of reach of the SIGHUP a closing terminal sends; stdin from /dev/null, stdout and
 *       stderr appended to LOG;
 *   <li>{@code broker OWNERS_DIR|- MAIN ARGS...} runs a main class and exits, running its
 *       shutdown hooks, once no process named in the owners directory is alive;
 *   <li>{@code alive PID MARKER}, {@code stop PID MARKER TIMEOUT_MS} and {@code kill PID MARKER}
 *       find a process by pid and a marker in its command line, then report it (exit code 0 if
 *       alive) or stop it (SIGTERM, SIGKILL after the timeout; or SIGKILL at once).
 * </ul>
 *
 * <p>Deno's {@code Deno.kill} needs unrestricted {@code --allow-run}; this helper lets the task
 * run with {@code --allow-run=java} only.
 *
 * <p>The owners protocol: a new owner creates {@code owners/<pid>} and only then checks for
 * {@code stopping}; the broker, finding no live owner, writes {@code stopping} and only then
 * looks once more, staying (and deleting {@code stopping}) if an owner appeared. So an owner
 * either keeps the broker alive or sees it stopping, never neither.
 */
public final class UpbusKafka {
  public static void main(String[] args) throws Exception {
    switch (args.length == 0 ? "" : args[0]) {
      case "spawn" -> spawn(args[1], Arrays.copyOfRange(args, 2, args.length));
      case "broker" -> broker(args[1], args[2], Arrays.copyOfRange(args, 3, args.length));
      case "alive" -> System.exit(find(args[1], args[2]).isPresent() ? 0 : 1);
      case "stop" -> System.out.println(stop(args[1], args[2], Long.parseLong(args[3])));
      case "kill" -> System.out.println(kill(args[1], args[2]));
      default -> {
        System.err.println("usage: spawn LOG CMD... | broker OWNERS_DIR|- MAIN ARGS... | alive PID MARKER | stop PID MARKER TIMEOUT_MS | kill PID MARKER");
        System.exit(2);
      }
    }
  }

  static void spawn(String log, String[] command) throws Exception {
    List<String> cmd = new ArrayList<>(Arrays.asList(command));
    if (cmd.get(0).equals("java")) cmd.set(0, Path.of(System.getProperty("java.home"), "bin", "java").toString());
    // setsid(1) calls setsid(2) and execs the command in its place (it forks only when called by
    // a process group leader, which a child of this JVM is not): the pid printed is the command's.
    cmd.add(0, "setsid");
    Process process;
    try {
      process = new ProcessBuilder(cmd)
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .redirectOutput(ProcessBuilder.Redirect.appendTo(new File(log)))
          .redirectErrorStream(true)
          .start();
    } catch (IOException e) {
      System.err.println("Cannot start the broker in a session of its own: setsid cannot run (" + e.getMessage() + "); install util-linux, which provides it");
      System.exit(3);
      return;
    }
    System.out.println(process.pid());
  }

  static void broker(String ownersDir, String mainClass, String[] args) throws Exception {
    if (!ownersDir.equals("-")) {
      Path owners = Path.of(ownersDir);
      Path stopping = owners.resolveSibling("stopping");
      Thread watch = new Thread(() -> {
        try {
          for (;;) {
            Thread.sleep(500);
            if (liveOwners(owners) > 0) continue;
            Files.writeString(stopping, String.valueOf(ProcessHandle.current().pid()));
            if (liveOwners(owners) > 0) {
              Files.deleteIfExists(stopping);
              continue;
            }
            System.err.println("upbus: every owner of the broker has exited; stopping it");
            System.exit(0);
          }
        } catch (InterruptedException e) {
          // the JVM is exiting
        } catch (IOException e) {
          System.err.println("upbus: cannot watch " + owners + ": " + e + "; stopping the broker");
          System.exit(1);
        }
      }, "upbus-owner-watch");
      watch.setDaemon(true);
      watch.start();
    }
    Class.forName(mainClass).getMethod("main", String[].class).invoke(null, (Object) args);
  }

  /** Counts the files of the owners directory named after a live pid; deletes the others. */
  static int liveOwners(Path owners) throws IOException {
    int live = 0;
    List<Path> files;
    try (var list = Files.list(owners)) {
      files = list.toList();
    }
    for (Path file : files) {
      long pid;
      try {
        pid = Long.parseLong(file.getFileName().toString());
      } catch (NumberFormatException e) {
        continue;
      }
      if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) live++;
      else Files.deleteIfExists(file);
    }
    return live;
  }

  static Optional<ProcessHandle> find(String pid, String marker) {
    return ProcessHandle.of(Long.parseLong(pid))
        .filter(p -> p.isAlive() && p.info().commandLine().map(c -> c.contains(marker)).orElse(false));
  }

  static boolean gone(ProcessHandle p, long timeoutMs) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMs;
    do {
      if (!p.isAlive() || p.info().commandLine().isEmpty()) return true;
      Thread.sleep(50);
    } while (System.currentTimeMillis() < deadline);
    return false;
  }

  static String stop(String pid, String marker, long timeoutMs) throws InterruptedException {
    Optional<ProcessHandle> found = find(pid, marker);
    if (found.isEmpty()) return "not-running";
    ProcessHandle p = found.get();
    p.destroy();
    if (gone(p, timeoutMs)) return "stopped";
    p.destroyForcibly();
    gone(p, 10_000);
    return "killed";
  }

  /** SIGKILL at once, as a crash would: no clean shutdown, no controlled leader hand-over. */
  static String kill(String pid, String marker) throws InterruptedException {
    Optional<ProcessHandle> found = find(pid, marker);
    if (found.isEmpty()) return "not-running";
    ProcessHandle p = found.get();
    p.destroyForcibly();
    gone(p, 10_000);
    return "killed";
  }
}

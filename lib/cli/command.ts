/**
 * The shape of one `upbus` subcommand, as `main.ts` dispatches them.
 *
 * @module
 */

/** One subcommand of the `upbus` CLI. */
export interface Command {
  /** The word that selects it: `serve`, `register-webhook`, ... */
  name: string;
  /** One line for the command list of `upbus --help`. */
  summary: string;
  /** The full `--help` text. */
  usage: string;
  /**
   * Runs the command.
   *
   * @param args The arguments after the command name.
   * @returns The process exit code.
   */
  run(args: string[]): Promise<number>;
}

/** A command-line mistake: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  /** Makes the error; `message` says what is wrong with the arguments. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

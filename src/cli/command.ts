/** The shape of an annexd subcommand; exit codes: 0 success, 1 failure, 2 usage error. */
export interface Command {
  name: string;
  summary: string;
  /** Full --help text. */
  help: string;
  run(args: string[]): Promise<number>;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The shape of an annexd subcommand; exit codes: 0 success, 1 failure, 2 usage error. */
export interface Command {
  name: string;
  summary: string;
  /** Full --help text. */
  help: string;
  run(args: string[]): Promise<number>;
}

/**
 * A mistake in how annexd was called (exit 2). `helpFor` names the command
 * whose --help explains the right usage; the dispatcher fills it in for
 * errors a command throws, so every usage error points at the right --help.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  helpFor: string | undefined;
  constructor(message: string, helpFor?: string) {
    super(message);
    this.helpFor = helpFor;
  }

  /** The command line that shows the right help, e.g. "annexd credentials --help". */
  get helpCommand(): string {
    return this.helpFor ? `annexd ${this.helpFor} --help` : 'annexd --help';
  }
}

/** Writes text to stdout with exactly one trailing newline. */
export const out = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

/** Whether the arguments ask for JSON output (`--json` before any `--`). */
export function wantsJson(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type CommandLineConfig<O extends OptionsConfig> = { args: string[]; options: O; allowPositionals: true; strict: true; tokens: true };
export type CommandLine<O extends OptionsConfig> = ReturnType<typeof parseArgs<CommandLineConfig<O>>>;

/**
 * A command's arguments: its options (strict: an unknown one is a usage
 * error), positionals, and the tokens (to tell which options were given).
 */
export function parseCommandLine<O extends OptionsConfig>(args: string[], options: O): CommandLine<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

import { runDemo } from '../../demo/run-demo.js';
import { parseCommandLine, UsageError, type Command } from '../command.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'store, drop, retrieve and verify data through annexd-s3 and annexd-osf on embedded servers',
  help: `Usage: annexd demo [--keep] [--big-mib N] [--small-files N]

Runs the whole S3 path, then publishing to OSF, with no account and no
external service: creates a scratch git-annex repository, starts an
S3-compatible server (s3rver) on 127.0.0.1, sets up an annexd-s3 special
remote, then copies, drops, gets back and verifies the data; then starts an
OSF-compatible server on 127.0.0.1, creates a project and an annexd-osf
remote on it, and publishes, drops, gets back and verifies the same files,
showing git-annex's output as it goes.

Needs git and git-annex on PATH. Ctrl-C stops it: the remote aborts its
uploads, the scratch directory is removed (unless --keep) and the exit code
is 130; a second Ctrl-C quits at once.

Options:
  --keep            keep the scratch directory (its path is printed)
  --big-mib N       size of the large file in MiB (default 96: uploaded in parallel parts)
  --small-files N   number of small files (default 20)
`,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      keep: { type: 'boolean', default: false },
      'big-mib': { type: 'string', default: '96' },
      'small-files': { type: 'string', default: '20' },
    });
    if (positionals.length) throw new UsageError(`demo takes no arguments, only options (not "${positionals[0]}")`);
    const count = (name: string, v: string, max: number): number => {
      if (!/^\d+$/.test(v) || Number(v) > max) throw new UsageError(`--${name} must be a whole number up to ${max}`);
      return Number(v);
    };
    return runDemo({
      keep: values.keep,
      bigFileMiB: count('big-mib', values['big-mib'], 4096),
      smallFiles: count('small-files', values['small-files'], 10_000),
      out: (line) => process.stdout.write(line + '\n'),
    });
  },
};

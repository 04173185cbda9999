import { runDemo } from '../../demo/run-demo.js';
import { parseCommandLine, UsageError, type Command } from '../command.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'store, drop, retrieve and verify data on S3, then publish the dataset to OSF, clone it, and keep it published with the daemon, on embedded servers',
  help: `Usage: annexd demo [--keep] [--big-mib N] [--small-files N]

Runs the whole S3 path, then publishing to OSF, with no account and no
external service: creates a scratch git-annex repository, starts an
S3-compatible server (s3rver) on 127.0.0.1, sets up an annexd-s3 special
remote, then copies, drops, gets back and verifies the data; then starts an
OSF-compatible server on 127.0.0.1 and publishes the dataset there
(annexd create-sibling-osf, then annexd push: content to the storage sibling
first, then the git history), clones it from its osf:// URL and gets and
verifies the content in the clone; then lets the sync daemon (annexd serve)
publish a new commit by itself, which the clone pulls. Each command's output
is shown as it goes.

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

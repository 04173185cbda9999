import { runDaemon } from '../../daemon/daemon.js';
import { stateDir } from '../../daemon/state.js';
import { parseCommandLine, UsageError, type Command } from '../command.js';

const HELP = `Usage: annexd serve [--port N] [-J N]

Runs the sync daemon in the foreground: the syncs of "annexd sync add" (every
DURATION, after a commit with --on-change, once at start-up, and when asked
with "annexd sync now"), and the status page and API on 127.0.0.1:PORT.
Stop it with Ctrl-C or SIGTERM: running syncs are stopped and redone at the
next start. One daemon per state directory.

Options:
  --port N   the port on 127.0.0.1 (default 8387; 0 picks a free one)
  -J, --jobs N  datasets synced at the same time (default 4)

It writes serve.json (url, token, pid; mode 0600) to the state directory
($ANNEXD_STATE_DIR, else $XDG_STATE_HOME/annexd, else ~/.local/state/annexd).
"annexd status" talks to it; "annexd status --open" logs a browser in.
It listens on progress.sock there too: annexd's remotes in git-annex commands
run by hand (git annex copy, get) report their transfers to it, and the
status page shows them (ANNEXD_NO_DAEMON_REPORT=1 switches that off).
`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the sync daemon (status page and API on 127.0.0.1) in the foreground',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, { port: { type: 'string', default: '8387' }, jobs: { type: 'string', short: 'J', default: '4' } });
    if (positionals.length) throw new UsageError('serve takes no arguments');
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, not "${values.port}"`);
    const jobs = Number(values.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`-J must be a whole number of at least 1, not "${values.jobs}"`);
    const dir = stateDir();
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) process.exit(sig === 'SIGINT' ? 130 : 143);
      stopping = true;
      process.stderr.write(`annexd serve: ${sig}: stopping the running syncs (they are redone at the next start)\n`);
      stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    const log = (line: string): void => void process.stderr.write(`annexd serve: ${line}\n`);
    await runDaemon({
      stateDir: dir,
      port,
      maxParallel: jobs,
      stopped,
      onReady: (url) => log(`listening on ${url} (state ${dir}); open the status page with "annexd status --open"`),
      onWarning: log,
      onEvent: (e) => {
        if (e.type === 'sync-started') log(`sync ${e.path} -> ${e.sibling}: started`);
        else if (e.type === 'sync-finished') log(`sync ${e.path} -> ${e.sibling}: ok`);
        else if (e.type === 'sync-failed') log(`sync ${e.path} -> ${e.sibling}: failed: ${e.error}`);
        else if (e.type === 'state-error') log(e.error);
      },
    });
    // A git process cut off mid-push can leave children (a remote's hook) holding our pipes: do not wait for them.
    process.exit(0);
  },
};

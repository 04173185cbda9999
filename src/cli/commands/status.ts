import { spawn, spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { askDaemon, noDaemon, runningDaemon } from '../../daemon/client.js';
import { DaemonError } from '../../daemon/errors.js';
import type { OutsideTransfer } from '../../daemon/outside.js';
import type { DaemonEvent, DaemonStatus, EntryStatus } from '../../daemon/scheduler.js';
import { formatDuration, stateDir } from '../../daemon/state.js';
import type { WorktreeStatus } from '../../daemon/watch.js';
import { formatSize } from '../../remotes/core/sizes.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';
import { bar } from '../render/progress.js';

const HELP = `Usage: annexd status [--watch] [--json] [--open]

What the running sync daemon ("annexd serve") is doing: each sync, its last
result and error, when it runs next, and the transfers in progress: its own,
and those of git-annex commands run by hand (their annexd remotes report to
the daemon).

Options:
  --watch   keep going: print each event (sync started, finished, failed,
            progress, queue, transfers outside the daemon) as it happens;
            Ctrl-C to stop
  --json    the status (or with --watch each event) as JSON
  --open    print a one-time address (valid 60 s) that logs a browser into
            the status page, and open it with xdg-open when there is a display

Exit codes: 0 done, 1 no daemon runs (or it failed to answer), 2 usage error.
`;

/** "3 uncommitted changes (synced once committed)", with how the tree is watched when it is not by inotify. */
export function describeWorktree(w: WorktreeStatus): string {
  const what =
    w.mode === 'gone' ? (w.note ?? 'missing')
    : w.error ? `not known (${w.error})`
    : w.uncommitted === undefined ? 'not looked at yet'
    : w.uncommitted === 0 ? 'clean'
    : `${w.uncommitted} uncommitted change${w.uncommitted === 1 ? '' : 's'} (not synced until committed)`;
  if (w.mode !== 'polled') return what;
  return `${what}; not watched (${w.note ?? 'no inotify'}), looked at every ${formatDuration(w.pollMs ?? 60_000)}`;
}

function renderEntry(e: EntryStatus): string {
  const state = e.paused ? 'paused' : e.running ? 'syncing' : e.queued ? 'queued' : (e.lastResult ?? 'never synced');
  const lines = [`${e.path} -> ${e.sibling}: ${state}`];
  const deps = e.siblings.find((s) => s.name === e.sibling)?.publishDepends ?? [];
  if (deps.length) lines.push(`  publish-depends: ${deps.join(', ')}`);
  for (const p of e.progress) {
    const frac = p.bytesTotal ? p.bytesDone / p.bytesTotal : p.filesTotal ? p.filesDone / p.filesTotal : 1;
    lines.push(`  ${p.target} ${bar(frac, 20)} ${p.filesDone}/${p.filesTotal} files ${formatSize(p.bytesDone)}/${formatSize(p.bytesTotal)}${p.file ? ` ${p.file}` : ''}`);
  }
  if (e.lastEnd) lines.push(`  last: ${e.lastResult} at ${e.lastEnd}`);
  if (e.lastError) lines.push(`  error: ${e.lastError}`);
  if (e.worktree) lines.push(`  working tree: ${describeWorktree(e.worktree)}`);
  const every = e.everyMs ? `every ${formatDuration(e.everyMs)}` : '';
  lines.push(`  next: ${e.paused ? 'paused' : e.nextDue ?? 'on change or when asked'}${every ? ` (${every})` : ''}${e.onChange ? ', on change' : ''}`);
  return lines.join('\n');
}

/** One transfer outside the daemon: where, which way, how far. */
function renderTransfer(t: OutsideTransfer): string {
  const way = t.direction === 'store' ? `to ${t.remote ?? 'a remote'}` : `from ${t.remote ?? 'a remote'}`;
  const done = t.size ? `${bar(t.bytes / t.size, 20)} ${formatSize(t.bytes)}/${formatSize(t.size)}` : formatSize(t.bytes);
  const end = t.state === 'running' ? '' : ` ${t.state}`;
  return `${t.repo ?? '?'}: ${t.file ?? t.key} ${way} ${done}${end} (pid ${t.pid})`;
}

export function renderStatus(s: DaemonStatus): string {
  const head = `annexd daemon pid ${s.pid}, up since ${s.startedAt}, state ${s.stateDir}`;
  const body = s.syncs.length ? s.syncs.map(renderEntry).join('\n') : 'no syncs (add one with "annexd sync add PATH --to SIBLING")';
  const outside = s.outside?.length ? `\ntransfers outside the daemon:\n${s.outside.map((t) => `  ${renderTransfer(t)}`).join('\n')}` : '';
  return `${head}\n${s.stateError ? `state file problem: ${s.stateError}\n` : ''}${body}${outside}`;
}

function renderEvent(e: DaemonEvent): string | undefined {
  const t = new Date().toISOString().slice(11, 19);
  switch (e.type) {
    case 'sync-started':
      return `${t} ${e.path} -> ${e.sibling}: started`;
    case 'sync-finished':
      return `${t} ${e.path} -> ${e.sibling}: ok`;
    case 'sync-failed':
      return `${t} ${e.path} -> ${e.sibling}: failed: ${e.error}`;
    case 'progress': {
      const p = e.progress;
      return `${t} ${e.path} -> ${p.target}: ${p.filesDone}/${p.filesTotal} files ${formatSize(p.bytesDone)}/${formatSize(p.bytesTotal)}${p.file ? ` ${p.file}` : ''}`;
    }
    case 'queue':
      return `${t} queue: ${e.running.length} running, ${e.queued.length} waiting`;
    case 'state-error':
      return `${t} state file problem: ${e.error}`;
    case 'entries-changed':
      return `${t} syncs or their settings changed`;
    case 'worktree':
      return `${t} ${e.path}: working tree ${describeWorktree(e.worktree)}`;
    case 'transfer':
      return `${t} outside the daemon: ${renderTransfer(e.transfer)}`;
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'what the running sync daemon is doing; --open logs a browser into its status page',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      watch: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      open: { type: 'boolean', default: false },
    });
    if (positionals.length) throw new UsageError('status takes no arguments');
    const dir = stateDir();
    const info = await runningDaemon(dir);
    if (!info) throw noDaemon(dir);
    if (values.open) {
      const { url } = await askDaemon<{ url: string }>(dir, 'POST', '/api/login');
      if (values.json) out(JSON.stringify({ url }));
      else out(url);
      const graphical = process.env.DISPLAY || process.env.WAYLAND_DISPLAY;
      if (graphical && spawnSync('sh', ['-c', 'command -v xdg-open'], { stdio: 'ignore' }).status === 0) {
        spawn('xdg-open', [url], { detached: true, stdio: 'ignore' }).unref();
      }
      return 0;
    }
    const status = await askDaemon<DaemonStatus>(dir, 'GET', '/api/status');
    if (!values.watch) {
      out(values.json ? JSON.stringify(status) : renderStatus(status));
      return 0;
    }
    if (!values.json) out(renderStatus(status));
    const wsUrl = `${info.url.replace(/^http/, 'ws')}/api/ws?token=${encodeURIComponent(info.token)}`;
    return new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      let closing = false;
      const stop = (): void => {
        closing = true;
        ws.close();
      };
      process.once('SIGINT', stop);
      ws.on('message', (data) => {
        const e = JSON.parse(String(data)) as DaemonEvent | { type: 'status'; status: DaemonStatus };
        if (values.json) return out(JSON.stringify(e));
        if (e.type === 'status') return;
        const line = renderEvent(e);
        if (line) out(line);
      });
      ws.on('error', (err) => reject(new DaemonError(`lost the annexd daemon at ${info.url}: ${err.message}`)));
      ws.on('close', () => {
        process.off('SIGINT', stop);
        if (closing) resolve(0);
        else reject(new DaemonError(`the annexd daemon at ${info.url} stopped`));
      });
    });
  },
};

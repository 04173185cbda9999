import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DaemonError } from '../../daemon/errors.js';
import { askDaemon, runningDaemon } from '../../daemon/client.js';
import { formatDuration, parseDuration, sameEntry, SyncState, stateDir, type SyncEntry } from '../../daemon/state.js';
import { git } from '../../orchestration/git.js';
import { datasetRoot } from '../../orchestration/push/datasets.js';
import { DATA_MODES, type DataMode } from '../../orchestration/push/index.js';
import { listSiblings } from '../../orchestration/siblings.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';

const HELP = `Usage: annexd sync add PATH --to SIBLING [--every DURATION] [--on-change] [--pull]
                      [--data auto|anything|nothing|auto-if-wanted]
       annexd sync list [--json]
       annexd sync remove PATH [--to SIBLING]
       annexd sync pause|resume [PATH]
       annexd sync now [PATH]

Background sync: the datasets the daemon ("annexd serve") keeps in sync with a
sibling, by the push of "annexd push --to SIBLING" (content to the sibling and
its publication dependencies, then git).

  add      sync the dataset at PATH to SIBLING: every DURATION (30s, 5m, 2h,
           1d; at least 10s), after each commit (--on-change), and once when
           the daemon starts; --pull first fetches and merges from the sibling
           (as "git annex sync --no-push --no-content"); --data as annexd push.
           Again for the same PATH and SIBLING: new settings, history and a
           pause kept. A moved dataset: "sync add NEWPATH" takes its sync along.
           --on-change watches the refs (a commit starts a sync) and the
           working tree, whose uncommitted changes "annexd status" shows; the
           daemon never commits them. Past ANNEXD_WATCH_MAX_DIRS directories
           (default 10000) or the inotify limit, the tree is looked at every
           ANNEXD_WATCH_POLL seconds (default 60) instead, and status says so.
  list     the syncs, their last result and error, and when each runs next
  remove   stop syncing PATH (to SIBLING, or to all its siblings)
  pause    no syncs for PATH (default: all) until resume
  now      ask the running daemon to sync PATH (default: all) now

State: $ANNEXD_STATE_DIR, else $XDG_STATE_HOME/annexd, else
~/.local/state/annexd (syncs.json). Changes are seen by a running daemon.
`;

/** Shorter periods would only keep the dataset's git-annex busy; --on-change is there for "soon after a commit". */
const MIN_EVERY_MS = 10_000;

async function resolveDataset(path: string): Promise<string> {
  return datasetRoot(resolve(path));
}

function matchesPath(e: SyncEntry, path: string | undefined): boolean {
  return path === undefined || e.path === path;
}

function describe(e: SyncEntry): string {
  const how = [e.everyMs ? `every ${formatDuration(e.everyMs)}` : '', e.onChange ? 'on change' : '', e.pull ? 'pull first' : '', e.data !== 'auto-if-wanted' ? `data ${e.data}` : '']
    .filter(Boolean)
    .join(', ');
  const last = e.lastResult
    ? `last: ${e.lastResult}${e.lastEnd ? ` at ${e.lastEnd}` : e.lastStart ? ` since ${e.lastStart}` : ''}${e.lastError ? ` (${e.lastError})` : ''}`
    : 'never synced';
  const next = e.paused ? 'paused' : e.nextDue ? `next: ${e.nextDue}` : 'next: on change or when asked';
  return `${e.path} -> ${e.sibling}${how ? ` [${how}]` : ''}\n  ${last}; ${next}`;
}

export const syncCommand: Command = {
  name: 'sync',
  summary: 'datasets the daemon keeps in sync with a sibling: add, list, remove, pause, resume, now',
  help: HELP,
  async run(args) {
    const [sub, ...rest] = args;
    const state = new SyncState(stateDir());
    switch (sub) {
      case 'add': {
        const { values, positionals } = parseCommandLine(rest, {
          to: { type: 'string' },
          every: { type: 'string' },
          'on-change': { type: 'boolean', default: false },
          pull: { type: 'boolean', default: false },
          data: { type: 'string', default: 'auto-if-wanted' },
        });
        if (positionals.length !== 1) throw new UsageError('sync add takes one PATH (a dataset)');
        if (!values.to) throw new UsageError('sync add needs --to SIBLING');
        const data = values.data as DataMode;
        if (!DATA_MODES.includes(data)) throw new UsageError(`--data must be one of ${DATA_MODES.join(', ')}, not "${values.data}"`);
        let everyMs: number | undefined;
        if (values.every !== undefined) {
          try {
            everyMs = parseDuration(values.every);
          } catch (err) {
            throw new UsageError(`--every: ${(err as Error).message}`);
          }
          if (everyMs < MIN_EVERY_MS) throw new UsageError(`--every must be at least ${formatDuration(MIN_EVERY_MS)}, not "${values.every}"`);
        }
        const path = await resolveDataset(positionals[0] ?? '.');
        const uuid = await git(path, ['config', '--get', 'annex.uuid']);
        if (uuid.code !== 0 || !uuid.stdout.trim()) throw new DaemonError(`${path} is not a git-annex repository (run "git annex init" there first)`);
        const siblings = await listSiblings(path, { wanted: false });
        const sibling = siblings.find((s) => s.name === values.to);
        if (!sibling) {
          const names = siblings.map((s) => s.name);
          throw new DaemonError(`${path} has no sibling "${values.to}" (${names.length ? `its siblings: ${names.join(', ')}` : 'it has none; add one with "annexd siblings add"'})`);
        }
        if (values.pull && !sibling.url) throw new DaemonError(`--pull needs a git sibling to fetch from; "${sibling.name}" is a special remote without a URL`);
        const entry: SyncEntry = {
          path,
          sibling: sibling.name,
          uuid: uuid.stdout.trim(),
          onChange: values['on-change'],
          pull: values.pull,
          data,
          paused: false,
          addedAt: new Date().toISOString(),
          failures: 0,
          nextDue: new Date().toISOString(),
          ...(everyMs !== undefined ? { everyMs } : {}),
        };
        const { result } = await state.update((doc) => {
          let i = doc.syncs.findIndex((e) => sameEntry(e, entry));
          // The same repository (annex.uuid) synced to the same sibling from a path that is gone: it was moved here.
          const moved = i === -1 ? doc.syncs.findIndex((e) => e.uuid === entry.uuid && e.sibling === entry.sibling && !existsSync(e.path)) : -1;
          if (moved !== -1) i = moved;
          if (i === -1) {
            doc.syncs.push(entry);
            return { how: 'added' as const, paused: false };
          }
          // Settings change; the record of past syncs, and a pause, stay.
          const old = doc.syncs[i]!;
          doc.syncs[i] = { ...old, ...entry, addedAt: old.addedAt, failures: old.failures, paused: old.paused, ...(everyMs === undefined ? { everyMs: undefined } : {}) };
          return moved !== -1 ? { how: 'moved' as const, from: old.path, paused: old.paused } : { how: 'updated' as const, paused: old.paused };
        });
        const line = describe(entry).split('\n')[0];
        if (result.how === 'moved') out(`moved: ${result.from} (no longer there) is now ${line}`);
        else out(`${result.how}: ${line}`);
        if (result.paused) out(`it stays paused: "annexd sync resume ${path}" resumes it`);
        return 0;
      }
      case 'list': {
        const { values, positionals } = parseCommandLine(rest, { json: { type: 'boolean', default: false } });
        if (positionals.length) throw new UsageError('sync list takes no arguments');
        const doc = await state.read();
        if (values.json) for (const e of doc.syncs) out(JSON.stringify(e));
        else if (!doc.syncs.length) out('no syncs (add one with "annexd sync add PATH --to SIBLING")');
        else for (const e of doc.syncs) out(describe(e));
        return 0;
      }
      case 'remove': {
        const { values, positionals } = parseCommandLine(rest, { to: { type: 'string' } });
        if (positionals.length !== 1) throw new UsageError('sync remove takes one PATH');
        // A dataset deleted since it was added can still be removed by its recorded path.
        const path = await resolveDataset(positionals[0]!).catch(() => resolve(positionals[0]!));
        const { result: removed } = await state.update((doc) => {
          const before = doc.syncs.length;
          doc.syncs = doc.syncs.filter((e) => !(e.path === path && (values.to === undefined || e.sibling === values.to)));
          return before - doc.syncs.length;
        });
        if (!removed) throw new DaemonError(`no sync of ${path}${values.to ? ` to ${values.to}` : ''} (see "annexd sync list")`);
        out(`removed ${removed} sync${removed === 1 ? '' : 's'} of ${path}`);
        return 0;
      }
      case 'pause':
      case 'resume': {
        const { positionals } = parseCommandLine(rest, {});
        if (positionals.length > 1) throw new UsageError(`sync ${sub} takes at most one PATH`);
        const path = positionals[0] === undefined ? undefined : await resolveDataset(positionals[0]).catch(() => resolve(positionals[0]!));
        const { result: n } = await state.update((doc) => {
          const hit = doc.syncs.filter((e) => matchesPath(e, path));
          for (const e of hit) e.paused = sub === 'pause';
          return hit.length;
        });
        if (!n) throw new DaemonError(path ? `no sync of ${path} (see "annexd sync list")` : 'no syncs (add one with "annexd sync add PATH --to SIBLING")');
        out(`${sub === 'pause' ? 'paused' : 'resumed'} ${n} sync${n === 1 ? '' : 's'}`);
        return 0;
      }
      case 'now': {
        const { positionals } = parseCommandLine(rest, {});
        if (positionals.length > 1) throw new UsageError('sync now takes at most one PATH');
        // A dataset removed since: by its recorded path, so its sync fails and says why.
        const path = positionals[0] === undefined ? undefined : await resolveDataset(positionals[0]).catch(() => resolve(positionals[0]!));
        const dir = stateDir();
        if (!(await runningDaemon(dir))) throw new DaemonError(`no annexd daemon is running on ${dir}, so nothing syncs now (start one with "annexd serve")`);
        const r = await askDaemon<{ queued: number }>(dir, 'POST', '/api/sync', path ? { path } : {});
        out(`queued ${r.queued} sync${r.queued === 1 ? '' : 's'}`);
        return 0;
      }
      case undefined:
        throw new UsageError('sync needs a subcommand: add, list, remove, pause, resume or now');
      default:
        throw new UsageError(`unknown sync subcommand "${sub}" (add, list, remove, pause, resume, now)`);
    }
  },
};

import { relative } from 'node:path';
import { OrchestrationError } from '../../orchestration/errors.js';
import { DATA_MODES, FORCE_MODES, runPush, type DataMode, type ForceMode, type PushEvent, type PushProgress } from '../../orchestration/push/index.js';
import { formatSize } from '../../remotes/core/sizes.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';
import { bar, ProgressLine } from '../render/progress.js';
import { ActionSummary, renderResult } from '../render/results.js';

const HELP = `Usage: annexd push [PATH...] [--to NAME] [--data auto|anything|nothing|auto-if-wanted]
                   [--since REF|^] [-r] [-J N] [--force all|gitpush|checkdatapresent]
                   [--dry-run] [--json] [-d DATASET]

Publishes a dataset to a sibling as "datalad push" does: first the annexed
content, to the sibling and to every sibling it depends on
(remote.NAME.datalad-publish-depends, every value, each split on whitespace,
followed transitively), then the git branches. Independent dependencies are
pushed at the same time; a dependency that fails stops the git push that
depends on it, and the command exits 1. A dependency cycle is refused with its
path, before anything is pushed. Export remotes (exporttree=yes) get
"git annex export HEAD". Only saved changes are pushed: what differs in the
work tree from HEAD is not (the files' saved state is).

Options:
  --to NAME         the sibling (default: the one git push would use)
  --data MODE       auto-if-wanted (default): all content, or only what the
                    sibling wants when it has a preferred-content expression;
                    auto: what it wants (git annex copy --auto); anything: all;
                    nothing: no content, only git
  --since REF       only what changed since REF; ^ = since the sibling's state
                    of the current branch
  -r, --recursive   also the installed subdatasets, bottom-up
  -J, --jobs N      parallel transfers per sibling (git annex -J N)
  --force MODE      gitpush: git push --force; checkdatapresent: ask the
                    siblings what they have instead of trusting the location
                    log; all: both
  --dry-run         show what would be pushed, in which order; change nothing
  --json            one JSON record per line (DataLad's fields)
  -d, --dataset DIR the dataset (default: the one containing the current directory)

Exit codes: 0 every result ok or not needed, 1 something failed, 2 usage error,
130 interrupted.
`;

function describeProgress(p: Map<string, PushProgress>): string {
  const parts = [...p.values()].map((x) => {
    const frac = x.bytesTotal ? x.bytesDone / x.bytesTotal : x.filesTotal ? x.filesDone / x.filesTotal : 1;
    return `${x.target} ${bar(frac, 12)} ${x.filesDone}/${x.filesTotal} files ${formatSize(x.bytesDone)}/${formatSize(x.bytesTotal)}`;
  });
  return `push: ${parts.join(' | ')}`;
}

export const pushCommand: Command = {
  name: 'push',
  summary: 'publish a dataset to a sibling and its publication dependencies (content first, then git), as datalad push',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      to: { type: 'string' },
      data: { type: 'string', default: 'auto-if-wanted' },
      since: { type: 'string' },
      recursive: { type: 'boolean', short: 'r', default: false },
      jobs: { type: 'string', short: 'J' },
      force: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      dataset: { type: 'string', short: 'd' },
    });
    const data = values.data as DataMode;
    if (!DATA_MODES.includes(data)) throw new UsageError(`--data must be one of ${DATA_MODES.join(', ')}, not "${values.data}"`);
    const force = values.force as ForceMode | undefined;
    if (force !== undefined && !FORCE_MODES.includes(force)) throw new UsageError(`--force must be one of ${FORCE_MODES.join(', ')}, not "${values.force}"`);
    let jobs: number | undefined;
    if (values.jobs !== undefined) {
      jobs = Number(values.jobs);
      if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`-J must be a whole number of at least 1, not "${values.jobs}"`);
    }
    if (values.since === '') throw new UsageError("--since should point to commitish or use '^'.");
    const json = values.json;
    const progress = new ProgressLine();
    const live = new Map<string, PushProgress>();
    const summary = new ActionSummary();
    const abort = new AbortController();
    let interrupted = false;
    const onSignal = (): void => {
      if (interrupted) process.exit(130);
      interrupted = true;
      progress.clear();
      process.stderr.write('annexd push: interrupted, stopping git-annex and git (Ctrl-C again to quit at once)\n');
      abort.abort(new OrchestrationError('interrupted'));
    };
    process.on('SIGINT', onSignal);
    const cwd = process.cwd();
    const show = (e: PushEvent): void => {
      if (e.kind === 'progress') {
        live.set(`${e.progress.dataset}\0${e.progress.target}`, e.progress);
        progress.update(describeProgress(live));
        return;
      }
      progress.clear();
      if (e.kind === 'record') {
        summary.add(e.record);
        if (json) out(JSON.stringify(e.record));
        else {
          const line = renderResult(e.record);
          if (line) out(line);
        }
      } else if (e.kind === 'note') {
        process.stderr.write(`annexd push: ${relative(cwd, e.dataset) || '.'}: ${e.message}\n`);
      } else if (e.kind === 'plan') {
        const s = e.step;
        if (json) out(JSON.stringify({ action: 'push-plan', ...s }));
        else {
          const what = [
            s.data === 'export' ? 'export HEAD' : s.data === 'copy' ? `copy ${s.files} file${s.files === 1 ? '' : 's'} (${formatSize(s.bytes)})` : 'no content',
            s.refspecs.length ? `then git push ${s.refspecs.join(' ')}` : '',
          ].filter(Boolean);
          out(`would push to ${s.target}${s.dependsOn.length ? ` (after ${s.dependsOn.join(', ')})` : ''}: ${what.join(', ')}  [${relative(cwd, s.dataset) || '.'}]`);
        }
      }
      if (live.size) progress.update(describeProgress(live), true);
    };
    let ok: boolean;
    try {
      ok = await runPush(values.dataset ?? cwd, {
        paths: positionals,
        data,
        recursive: values.recursive,
        dryRun: values['dry-run'],
        signal: abort.signal,
        ...(values.to !== undefined ? { to: values.to } : {}),
        ...(values.since !== undefined ? { since: values.since } : {}),
        ...(jobs ? { jobs } : {}),
        ...(force ? { force } : {}),
      }, show);
    } catch (err) {
      progress.clear();
      if (interrupted) return 130;
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      progress.clear();
    }
    if (interrupted) return 130;
    if (!json && !values['dry-run']) {
      if (summary.total > 1) out(summary.render());
      if (summary.nothingNeeded) out('Everything is up to date');
    }
    return ok ? 0 : 1;
  },
};

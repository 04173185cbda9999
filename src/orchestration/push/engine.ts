/**
 * Push one dataset tree to a sibling and its publication dependencies, with
 * DataLad's semantics (push.py) and three differences that make it safe and
 * fast: dependency cycles are refused with their path; independent
 * dependencies are pushed at the same time; and a dependency that failed
 * stops the git pushes that depend on it. Content always goes before refs.
 */
import { relative } from 'node:path';
import { DependencyCycleError, OrchestrationError } from '../errors.js';
import { git, gitOk, GitConfig } from '../git.js';
import { dependencyGraph, dependencyOrder } from '../graph.js';
import { siblingsFromConfig, type Sibling } from '../siblings.js';
import { changedSince, datasetRoot, datasetsToPush, selects, unsavedPaths, type DatasetWork } from './datasets.js';
import { activeBranch, pushRefs, refspecsFor, syncAnnexBranch } from './refs.js';
import { transfer, type AnnexedFile } from './transfer.js';
import { annexState, fingerprint, knownDuplicates, knownUpToDate, noteUpToDate, touchesUuid, type AnnexState } from './uptodate.js';
import { succeeded, type PlanStep, type PushEvent, type PushOptions, type PushRecord } from './types.js';

type Emit = (e: PushEvent) => void;

interface DatasetContext {
  ds: string;
  refds: string;
  work: DatasetWork;
  config: GitConfig;
  siblings: Sibling[];
  isAnnex: boolean;
  branch: string | undefined;
  options: PushOptions;
  emit: Emit;
  /** Failures below this dataset (subdatasets) that stop its git pushes. */
  blockers: string[];
  /** An explicit --since resolved in another dataset of this push (a superdataset). */
  sinceOf(path: string): Promise<string | undefined>;
  gitDir: string;
  /** HEAD's tree and git-annex branch before anything ran (for the up-to-date notes), when git-annex has nothing pending. */
  state?: AnnexState;
  /** The resolved --since, part of what decides what a sibling gets. */
  since?: string;
}

const quoteList = (names: string[]): string => names.map((n) => `'${n}'`).join(', ');

/** The sibling `git push` would use: branch.B.pushRemote, remote.pushDefault, branch.B.remote. */
function defaultTarget(config: GitConfig, branch: string | undefined): string | undefined {
  return (
    (branch && config.get(`branch.${branch}.pushRemote`)) ||
    config.get('remote.pushDefault') ||
    (branch && config.get(`branch.${branch}.remote`)) ||
    undefined
  );
}

/** `since` for this dataset: "^" becomes the sibling's branch (or the tracking branch). */
async function resolveSince(ctx: DatasetContext, target: string): Promise<string | undefined> {
  const { since } = ctx.options;
  if (since === undefined) return undefined;
  if (since === '^') {
    let ref: string | undefined;
    if (ctx.options.to) ref = ctx.branch ? `${ctx.options.to}/${ctx.branch}` : undefined;
    else if (ctx.branch) {
      const remote = ctx.config.get(`branch.${ctx.branch}.remote`);
      const merge = ctx.config.get(`branch.${ctx.branch}.merge`)?.replace(/^refs\/heads\//, '');
      if (remote && merge) ref = `${remote}/${merge}`;
    }
    ref ??= `${target}/${ctx.branch ?? ''}`;
    const r = await git(ctx.ds, ['rev-parse', '--verify', '--quiet', `refs/remotes/${ref}^{commit}`], { signal: ctx.options.signal });
    if (r.code !== 0) {
      ctx.emit({ kind: 'note', dataset: ctx.ds, message: `${ref} is not known here (never pushed, or not fetched): --since=^ pushes everything` });
      return undefined;
    }
    return r.stdout.trim();
  }
  if (ctx.work.parent !== undefined) {
    // A subdataset: since the commit its superdataset recorded for it at `since` (as DataLad's recursive diff).
    const parentSince = await ctx.sinceOf(ctx.work.parent);
    if (parentSince === undefined) return undefined;
    const r = await git(ctx.work.parent, ['rev-parse', '--verify', '--quiet', `${parentSince}:${relative(ctx.work.parent, ctx.ds)}`], { signal: ctx.options.signal });
    // Not there at `since`: all of it is new.
    return r.code === 0 ? r.stdout.trim() : undefined;
  }
  const r = await git(ctx.ds, ['rev-parse', '--verify', '--quiet', `${since}^{commit}`], { signal: ctx.options.signal });
  if (r.code !== 0) throw new OrchestrationError(`--since ${since} does not name a commit in ${ctx.ds}`);
  return r.stdout.trim();
}

interface FindResult {
  file: string;
  key: string;
  bytesize?: string;
}

/** Annexed files of HEAD with content here, missing on `target` as far as the location log knows (all of them when checking). */
async function annexedToSend(ctx: DatasetContext, target: string | undefined, changed: Set<string> | undefined): Promise<AnnexedFile[]> {
  return annexedFiles(ctx, ['--in', 'here', ...(target ? ['--not', '--in', target] : [])], changed);
}

/** Files of HEAD (changed since `since`, under the paths given) that share a key with an earlier one. */
async function duplicateKeys(ctx: DatasetContext, changed: Set<string> | undefined): Promise<AnnexedFile[]> {
  const seen = new Set<string>();
  return (await annexedFiles(ctx, ['--include', '*'], changed)).filter((f) => seen.has(f.key) || !seen.add(f.key));
}

/** `git annex find --branch HEAD MATCHING`, restricted to what changed and what was asked for. */
async function annexedFiles(ctx: DatasetContext, matching: string[], changed: Set<string> | undefined): Promise<AnnexedFile[]> {
  const args = ['annex', 'find', '--branch', 'HEAD', ...matching, '--json'];
  const r = await gitOk(ctx.ds, args, { signal: ctx.options.signal });
  const files: AnnexedFile[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const j = JSON.parse(line) as FindResult;
    // With --branch, git-annex names files "HEAD:path" in some versions.
    const file = j.file.startsWith('HEAD:') ? j.file.slice(5) : j.file;
    if (changed && !changed.has(file)) continue;
    if (!selects(ctx.work.paths, file)) continue;
    files.push({ file, key: j.key, bytes: Number(j.bytesize ?? 0) || 0 });
  }
  return files;
}

/** With explicit paths: files slated for transport whose content is not here (push.py's 'impossible' records). */
async function missingContent(ctx: DatasetContext, changed: Set<string> | undefined): Promise<PushRecord[]> {
  if (!ctx.work.paths?.length) return [];
  const r = await gitOk(ctx.ds, ['annex', 'find', '--branch', 'HEAD', '--not', '--in', 'here', '--json'], { signal: ctx.options.signal });
  const out: PushRecord[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const j = JSON.parse(line) as FindResult;
    const file = j.file.startsWith('HEAD:') ? j.file.slice(5) : j.file;
    if ((changed && !changed.has(file)) || !selects(ctx.work.paths, file)) continue;
    out.push({ action: 'copy', status: 'impossible', path: `${ctx.ds}/${file}`, type: 'file', refds: ctx.refds, message: 'Slated for transport, but no content present' });
  }
  return out;
}

interface NodePlan {
  sibling: Sibling;
  step: PlanStep;
  files: AnnexedFile[];
  byKey: AnnexedFile[];
  duplicates: AnnexedFile[];
  auto: boolean;
  /** A record instead of a transfer (e.g. not an annex remote). */
  dataRecord?: PushRecord;
  /** The sibling's annex UUID, once known. */
  uuid?: string;
  /** What decides this sibling's content besides the state: only for plain copies (no --auto, no checking). */
  noteKey?: unknown;
}

async function wantedOf(ctx: DatasetContext, name: string): Promise<string> {
  const r = await git(ctx.ds, ['annex', 'wanted', name], { signal: ctx.options.signal });
  return r.code === 0 ? r.stdout.trim() : '';
}

/** What one sibling gets: which content and how, which refspecs. */
async function planNode(
  ctx: DatasetContext,
  sibling: Sibling,
  deps: string[],
  changed: Set<string> | undefined,
  unsaved: Set<string>,
  duplicates: AnnexedFile[],
): Promise<NodePlan> {
  const { options } = ctx;
  const force = options.force;
  const checking = force === 'all' || force === 'checkdatapresent';
  const step: PlanStep = { dataset: ctx.ds, target: sibling.name, dependsOn: deps, files: 0, bytes: 0, refspecs: [] };
  if (sibling.url !== undefined) step.refspecs = refspecsFor(ctx.config, sibling.name, ctx.branch, ctx.isAnnex);
  const plan: NodePlan = { sibling, step, files: [], byKey: [], duplicates: [], auto: false };
  if (!ctx.isAnnex || options.data === 'nothing' || sibling.annexIgnore) return plan;
  let uuid = sibling.annexUuid;
  if (!uuid && !options.dryRun) {
    // A git remote git-annex has not met yet: let it look (datalad#5143).
    await git(ctx.ds, ['annex', 'sync', '--no-push', '--no-pull', '--no-commit', '--no-resolvemerge', '--no-content', sibling.name], { signal: options.signal });
    uuid = (await GitConfig.read(ctx.ds, options.signal)).get(`remote.${sibling.name}.annex-uuid`);
  }
  if (!uuid) {
    plan.dataRecord = {
      action: 'copy',
      status: checking ? 'impossible' : 'notneeded',
      path: ctx.ds,
      type: 'dataset',
      refds: ctx.refds,
      target: sibling.name,
      message: `Target '${sibling.name}' does not appear to be an annex remote`,
    };
    return plan;
  }
  plan.uuid = uuid;
  if (sibling.exportTree) {
    step.data = 'export';
    return plan;
  }
  step.data = 'copy';
  plan.auto = options.data === 'auto' || ((options.data ?? 'auto-if-wanted') === 'auto-if-wanted' && (sibling.wanted ?? (await wantedOf(ctx, sibling.name))) !== '');
  // As DataLad: every file but the first of a key is "notneeded", whether or not the key is there already.
  plan.duplicates = duplicates;
  if (!checking && !plan.auto) {
    plan.noteKey = { target: sibling.name, uuid, data: options.data ?? 'auto-if-wanted', paths: ctx.work.paths ?? null, since: ctx.since ?? null };
    if (ctx.state && (await knownUpToDate(ctx.gitDir, sibling.name, fingerprint(ctx.state, plan.noteKey)))) return plan;
  }
  const dupFiles = new Set(duplicates.map((f) => f.file));
  const seen = new Set<string>();
  for (const f of await annexedToSend(ctx, checking ? undefined : sibling.name, changed)) {
    if (dupFiles.has(f.file) || seen.has(f.key)) continue;
    seen.add(f.key);
    (unsaved.has(f.file) ? plan.byKey : plan.files).push(f);
  }
  step.files = seen.size;
  step.bytes = [...plan.files, ...plan.byKey].reduce((n, f) => n + f.bytes, 0);
  return plan;
}

/** Pushes one dataset; returns whether every record was a success. */
async function pushDataset(ctx: DatasetContext): Promise<boolean> {
  const { ds, refds, options, emit } = ctx;
  const base = { action: 'publish' as const, path: ds, type: 'dataset' as const, refds };
  let allOk = true;
  const record = (r: PushRecord): void => {
    if (!succeeded(r)) allOk = false;
    emit({ kind: 'record', record: r });
  };
  if (ctx.work.paths?.length) {
    // Paths that match nothing in HEAD leave this dataset out, as DataLad's diff does (no record).
    const r = await git(ds, ['ls-tree', '-r', '--name-only', '-z', 'HEAD', '--', ...ctx.work.paths], { signal: options.signal });
    if (r.code === 0 && !r.stdout) return true;
  }
  const known = ctx.siblings.map((s) => s.name);
  let target = options.to;
  if (target !== undefined && !known.includes(target)) {
    record({ ...base, status: 'error', message: `Unknown push target '${target}'. ${known.length ? `Known targets: ${quoteList(known)}.` : 'No targets configured in dataset.'}` });
    return false;
  }
  target ??= defaultTarget(ctx.config, ctx.branch);
  if (target === undefined || !known.includes(target)) {
    record({ ...base, status: 'impossible', message: 'No push target given, and none could be auto-detected, please specify via --to' });
    return false;
  }
  const graph = dependencyGraph(ctx.siblings);
  let order: string[];
  try {
    order = dependencyOrder(graph, target);
  } catch (err) {
    if (!(err instanceof OrchestrationError)) throw err;
    record({ ...base, target, status: 'error', message: err instanceof DependencyCycleError ? err.message : `cannot push to '${target}': ${err.message}` });
    return false;
  }
  const since = await resolveSince(ctx, target);
  if (since !== undefined) ctx.since = since;
  const changed = await changedSince(ds, since, options.signal);
  if (changed && changed.size === 0) return true; // nothing changed since: not pushed, as DataLad (records are 'clean')
  // Before any git-annex command (which may merge a fetched git-annex branch).
  const state = ctx.isAnnex && !options.dryRun ? await annexState(ds, ctx.gitDir, options.signal) : undefined;
  if (state) ctx.state = state;
  const dataWanted = ctx.isAnnex && options.data !== 'nothing';
  // Duplicates depend on the tree and the selection only: noted once per tree, they cost no git-annex run after.
  const dupPrint = state ? fingerprint({ tree: state.tree, annexBranch: '' }, { paths: ctx.work.paths ?? null, since: since ?? null }) : undefined;
  const noted = dupPrint ? await knownDuplicates(ctx.gitDir, dupPrint) : undefined;
  const [unsaved, duplicates] = dataWanted
    ? await Promise.all([unsavedPaths(ds, options.signal), noted ? noted.files : duplicateKeys(ctx, changed)])
    : [new Set<string>(), []];
  const byName = new Map(ctx.siblings.map((s) => [s.name, s]));
  const plans = new Map<string, NodePlan>();
  await Promise.all(
    order.map(async (name) => {
      plans.set(name, await planNode(ctx, byName.get(name) as Sibling, graph.get(name) ?? [], changed, unsaved, duplicates));
    }),
  );
  if (options.dryRun) {
    for (const name of order) emit({ kind: 'plan', step: (plans.get(name) as NodePlan).step });
    return true;
  }
  for (const r of await missingContent(ctx, changed)) record(r);
  const dirty = new Set([...plans.values()].flatMap((p) => p.byKey.map((f) => f.file)));
  if (dirty.size) {
    emit({ kind: 'note', dataset: ds, message: `${dirty.size} file${dirty.size === 1 ? ' has' : 's have'} unsaved changes: the last saved state is pushed, not the changes (save them first to push them)` });
  }
  // Each sibling: its content at once, its git push once its content and every dependency are done.
  const done = new Map<string, Promise<boolean>>();
  /** The git-annex branch right after a sibling got all its content (or had nothing to get). */
  const afterData = new Map<string, string | undefined>();
  const nodeDone = (name: string): Promise<boolean> => {
    const existing = done.get(name);
    if (existing) return existing;
    const plan = plans.get(name) as NodePlan;
    const run = (async (): Promise<boolean> => {
      let ok = true;
      const data = (async (): Promise<boolean> => {
        if (plan.dataRecord) {
          record(plan.dataRecord);
          return succeeded(plan.dataRecord);
        }
        if (!plan.step.data) return true;
        const sent =
          plan.step.data === 'export' || plan.files.length || plan.byKey.length
            ? await transfer(
                {
                  ds,
                  refds,
                  target: name,
                  mode: plan.step.data,
                  files: plan.files,
                  byKey: plan.byKey,
                  auto: plan.auto,
                  fast: !(options.force === 'all' || options.force === 'checkdatapresent'),
                  ...(options.jobs ? { jobs: options.jobs } : {}),
                  ...(options.signal ? { signal: options.signal } : {}),
                },
                (e) => (e.kind === 'record' ? record(e.record) : emit(e)),
              )
            : true;
        if (sent) afterData.set(name, sent && (plan.files.length || plan.byKey.length) ? await annexBranch(ds) : state?.annexBranch);
        for (const f of plan.duplicates) {
          record({ action: 'copy', status: 'notneeded', path: `${ds}/${f.file}`, type: 'file', refds, target: name, annexkey: f.key, message: 'Another file points to the same key' });
        }
        return sent;
      })();
      const deps = Promise.all(plan.step.dependsOn.map(async (d) => ({ name: d, ok: await nodeDone(d) })));
      // Awaited together: when cancelled, both reject and neither is left unhandled.
      const [dataOk, depResults] = await Promise.all([data, deps]);
      ok = dataOk && ok;
      const failedDeps = depResults.filter((d) => !d.ok).map((d) => d.name);
      if (plan.sibling.url === undefined) return ok && failedDeps.length === 0;
      const blockers = [...failedDeps.map((d) => `publication dependency '${d}' failed`), ...ctx.blockers, ...(ok ? [] : [`content transfer to '${name}' failed`])];
      if (blockers.length) {
        record({ ...base, target: name, status: 'error', message: `not pushed to '${name}': ${blockers.join('; ')}` });
        return false;
      }
      const syncError = ctx.isAnnex ? await syncAnnexBranch(ds, ctx.config, name, options.signal) : undefined;
      if (syncError) {
        record({ ...base, target: name, status: 'error', message: `not pushed to '${name}': its git-annex branch could not be fetched and merged: ${syncError}` });
        return false;
      }
      if (!plan.step.refspecs.length) return ok;
      let pushedOk = true;
      for (const r of await pushRefs(ds, refds, name, plan.step.refspecs, options.force === 'all' || options.force === 'gitpush', options.signal)) {
        if (!succeeded(r)) pushedOk = false;
        record(r);
      }
      return ok && pushedOk;
    })();
    done.set(name, run);
    return run;
  };
  await Promise.all(order.map(nodeDone));
  if (state) await rememberUpToDate(ctx, state, plans, afterData, dataWanted && dupPrint && !noted ? { print: dupPrint, files: duplicates } : undefined);
  return allOk;
}

async function annexBranch(ds: string): Promise<string | undefined> {
  const r = await git(ds, ['rev-parse', 'refs/heads/git-annex']);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * Notes every sibling that now lacks nothing: it got all it lacked, and the
 * git-annex branch has not changed about it since (another sibling's copies
 * and merges of other branches may have changed the branch, not that).
 */
async function rememberUpToDate(
  ctx: DatasetContext,
  start: AnnexState,
  plans: Map<string, NodePlan>,
  afterData: Map<string, string | undefined>,
  duplicates: { print: string; files: AnnexedFile[] } | undefined,
): Promise<void> {
  const end = await annexState(ctx.ds, ctx.gitDir, ctx.options.signal);
  const notes: Record<string, string | undefined> = {};
  for (const [name, plan] of plans) {
    if (plan.noteKey === undefined || plan.step.data !== 'copy' || !plan.uuid) continue;
    const after = afterData.get(name);
    const valid = end !== undefined && end.tree === start.tree && after !== undefined && !(await touchesUuid(ctx.ds, after, end.annexBranch, plan.uuid, ctx.options.signal));
    notes[name] = valid && end ? fingerprint(end, plan.noteKey) : undefined;
  }
  if (Object.keys(notes).length || duplicates) await noteUpToDate(ctx.gitDir, notes, duplicates);
}

/**
 * Pushes the dataset at `path` (and with -r its subdatasets, bottom-up),
 * reporting every result and progress through `emit`. Returns whether every
 * result was ok or notneeded. Cancelled through options.signal (every git
 * and git-annex process is ended).
 */
export async function runPush(path: string, options: PushOptions, emit: Emit): Promise<boolean> {
  if (options.since === '') throw new OrchestrationError("'since' should point to commitish or use '^'.");
  const refds = await datasetRoot(path, options.signal);
  const { datasets, issues } = await datasetsToPush(refds, options.paths ?? [], options.recursive ?? false, options.signal);
  let allOk = true;
  let matched = false;
  const wrapped: Emit = (e) => {
    if (e.kind === 'record') {
      matched = true;
      if (!succeeded(e.record)) allOk = false;
    }
    emit(e);
  };
  const failedDatasets: string[] = [];
  const byPath = new Map(datasets.map((d) => [d.path, d]));
  const sinceMemo = new Map<string, Promise<string | undefined>>();
  // Explicit --since in a superdataset, resolved once; subdatasets read their recorded commit from it.
  const sinceOf = (path: string): Promise<string | undefined> => {
    let p = sinceMemo.get(path);
    if (!p) {
      const work = byPath.get(path) ?? { path };
      p = (async () => {
        const config = await GitConfig.read(path, options.signal);
        const ctx = { ds: path, refds, work, config, siblings: [], isAnnex: false, branch: await activeBranch(path, options.signal), options, emit: wrapped, blockers: [], sinceOf, gitDir: '' };
        return resolveSince(ctx, options.to ?? '');
      })();
      sinceMemo.set(path, p);
    }
    return p;
  };
  for (const issue of issues) {
    const message = issue.explicit
      ? `Cannot publish subdataset, not present: ${issue.path}`
      : `subdataset not installed, not pushed: ${issue.path} (install it, e.g. "datalad get -n ${issue.path}", to push it)`;
    wrapped({ kind: 'record', record: { action: 'publish', status: issue.explicit ? 'error' : 'notneeded', path: issue.path, type: 'dataset', refds, message } });
    if (!issue.explicit) wrapped({ kind: 'note', dataset: issue.path, message });
  }
  for (const work of datasets) {
    options.signal?.throwIfAborted();
    const config = await GitConfig.read(work.path, options.signal);
    const siblings = await siblingsFromConfig(work.path, config, { wanted: false, ...(options.signal ? { signal: options.signal } : {}) });
    const isAnnex = config.get('annex.uuid') !== undefined;
    const ok = await pushDataset({
      ds: work.path,
      refds,
      work,
      config,
      siblings,
      isAnnex,
      branch: await activeBranch(work.path, options.signal),
      options,
      emit: wrapped,
      // A superdataset's commit must not reach a sibling before the subdataset commits it records.
      blockers: failedDatasets.filter((f) => f.startsWith(`${work.path}/`)).map((f) => `subdataset ${f} was not pushed completely`),
      sinceOf,
      gitDir: (await gitOk(work.path, ['rev-parse', '--absolute-git-dir'], { signal: options.signal })).stdout.trim(),
    });
    if (!ok) failedDatasets.push(work.path);
  }
  if (!matched && allOk && !options.dryRun) {
    const hint =
      !options.to && options.paths?.length === 1 && (await GitConfig.read(refds, options.signal)).remoteNames().includes(options.paths[0] ?? '')
        ? `${options.paths[0]} matches a sibling name and not a path. Forgot --to?`
        : undefined;
    emit({
      kind: 'record',
      record: {
        action: 'publish',
        status: 'notneeded',
        path: refds,
        type: 'dataset',
        refds,
        message: hint ?? 'Given constraints did not match any changes to publish',
        ...(hint ? { hints: hint } : {}),
      },
    });
  }
  return allOk;
}

/** The same as an async iterator of events, for callers that prefer to pull (the daemon, tests). */
export async function* push(path: string, options: PushOptions = {}): AsyncGenerator<PushEvent, boolean> {
  const queue: PushEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  let result = false;
  const running = runPush(path, options, (e) => {
    queue.push(e);
    wake?.();
  }).then(
    (ok) => {
      result = ok;
    },
    (err: unknown) => {
      failure = err;
    },
  ).finally(() => {
    finished = true;
    wake?.();
  });
  while (true) {
    const next = queue.shift();
    if (next) {
      yield next;
      continue;
    }
    if (finished) break;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
  await running;
  if (failure !== undefined) throw failure;
  return result;
}

/**
 * Push one dataset tree to a sibling and its publication dependencies, with
 * DataLad's semantics (push.py) and three differences that make it safe and
 * fast: dependency cycles are refused with their path; independent
 * dependencies are pushed at the same time; and a dependency that failed
 * stops the git pushes that depend on it. Content always goes before refs.
 */
import { DependencyCycleError, OrchestrationError } from '../errors.js';
import { git, gitOk, GitConfig } from '../git.js';
import { dependencyGraph, dependencyOrder } from '../graph.js';
import { siblingsFromConfig, type Sibling } from '../siblings.js';
import { changedSince, datasetRoot, datasetsToPush, selects, unsavedPaths, type DatasetWork } from './datasets.js';
import { activeBranch, pushRefs, refspecsFor, syncAnnexBranch } from './refs.js';
import { transfer, type AnnexedFile } from './transfer.js';
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
  const args = ['annex', 'find', '--branch', 'HEAD', '--in', 'here', ...(target ? ['--not', '--in', target] : []), '--json'];
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
}

async function wantedOf(ctx: DatasetContext, name: string): Promise<string> {
  const r = await git(ctx.ds, ['annex', 'wanted', name], { signal: ctx.options.signal });
  return r.code === 0 ? r.stdout.trim() : '';
}

/** What one sibling gets: which content and how, which refspecs. */
async function planNode(ctx: DatasetContext, sibling: Sibling, deps: string[], changed: Set<string> | undefined, unsaved: Set<string>): Promise<NodePlan> {
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
  if (sibling.exportTree) {
    step.data = 'export';
    return plan;
  }
  step.data = 'copy';
  plan.auto = options.data === 'auto' || ((options.data ?? 'auto-if-wanted') === 'auto-if-wanted' && (sibling.wanted ?? (await wantedOf(ctx, sibling.name))) !== '');
  const seen = new Set<string>();
  for (const f of await annexedToSend(ctx, checking ? undefined : sibling.name, changed)) {
    if (seen.has(f.key)) {
      plan.duplicates.push(f);
      continue;
    }
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
  const changed = await changedSince(ds, since, options.signal);
  if (changed && changed.size === 0) return true; // nothing changed since: not pushed, as DataLad (records are 'clean')
  const unsaved = ctx.isAnnex && options.data !== 'nothing' ? await unsavedPaths(ds, options.signal) : new Set<string>();
  const byName = new Map(ctx.siblings.map((s) => [s.name, s]));
  const plans = new Map<string, NodePlan>();
  await Promise.all(
    order.map(async (name) => {
      plans.set(name, await planNode(ctx, byName.get(name) as Sibling, graph.get(name) ?? [], changed, unsaved));
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
        for (const f of plan.duplicates) {
          record({ action: 'copy', status: 'notneeded', path: `${ds}/${f.file}`, type: 'file', refds, target: name, annexkey: f.key, message: 'Another file points to the same key' });
        }
        return sent;
      })();
      const deps = plan.step.dependsOn.map(async (d) => ({ name: d, ok: await nodeDone(d) }));
      ok = (await data) && ok;
      const failedDeps = (await Promise.all(deps)).filter((d) => !d.ok).map((d) => d.name);
      if (plan.sibling.url === undefined) return ok && failedDeps.length === 0;
      const blockers = [...failedDeps.map((d) => `publication dependency '${d}' failed`), ...ctx.blockers, ...(ok ? [] : [`content transfer to '${name}' failed`])];
      if (blockers.length) {
        record({ ...base, target: name, status: 'error', message: `not pushed to '${name}': ${blockers.join('; ')}` });
        return false;
      }
      const syncError = await syncAnnexBranch(ds, ctx.config, name, options.signal);
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
  return allOk;
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

/**
 * The git side of a push to one sibling, as DataLad does it (push.py _push,
 * _push_refspecs; gitrepo.py PushInfo): which refspecs, the sibling's
 * git-annex branch fetched and merged first, then `git push --porcelain`
 * whose lines become publish records.
 */
import { firstErrorLine, git, type GitConfig } from '../git.js';
import type { PushRecord, Status } from './types.js';

export interface PushedRef {
  from: string;
  to: string;
  /** DataLad's operation labels: new-branch, fast-forward, uptodate, rejected, … */
  operations: string[];
  note: string;
}

const FLAG_OPS: Record<string, string | undefined> = {
  X: 'no-match',
  '-': 'deleted',
  '*': undefined,
  '+': 'forced-update',
  ' ': 'fast-forward',
  '=': 'uptodate',
  '!': 'error',
};

/** The ref lines of `git push --porcelain` (flag TAB from:to TAB summary). */
export function parsePorcelain(stdout: string): PushedRef[] {
  const refs: PushedRef[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^([ +\-*=!X])\t([^:\t]*):([^\t]*)\t(.*)$/.exec(line);
    if (!m) continue;
    const [, flag = '', from = '', to = '', summary = ''] = m;
    const ops = new Set<string>();
    const op = FLAG_OPS[flag];
    if (op) ops.add(op);
    if (summary.startsWith('[')) {
      if (summary.includes('[rejected]')) ops.add('rejected');
      else if (summary.includes('[remote rejected]')) ops.add('remote-rejected');
      else if (summary.includes('[remote failure]')) ops.add('remote-failure');
      else if (summary.includes('[no match]')) ops.add('error');
      else if (summary.includes('[new tag]')) ops.add('new-tag');
      else if (summary.includes('[new branch]')) ops.add('new-branch');
    }
    // DataLad lists operations in the order of its flag bits.
    const order = ['new-tag', 'new-branch', 'no-match', 'rejected', 'remote-rejected', 'remote-failure', 'deleted', 'forced-update', 'fast-forward', 'uptodate', 'error'];
    refs.push({ from: from.trim(), to: to.trim(), operations: order.filter((o) => ops.has(o)), note: summary.trim() });
  }
  return refs;
}

/** push.py's status of one pushed ref. */
export function refStatus(operations: readonly string[]): Status {
  if (operations.some((o) => ['error', 'no-match', 'rejected', 'remote-rejected', 'remote-failure'].includes(o))) return 'error';
  if (operations.includes('uptodate')) return 'notneeded';
  if (operations.some((o) => ['new-tag', 'new-branch', 'forced-update', 'fast-forward'].includes(o))) return 'ok';
  return 'impossible';
}

/** The branch checked out, or undefined on a detached HEAD. */
export async function activeBranch(ds: string, signal?: AbortSignal): Promise<string | undefined> {
  const r = await git(ds, ['symbolic-ref', '--quiet', '--short', 'HEAD'], { signal });
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}

/**
 * What to push: the refspecs configured for the sibling (remote.NAME.push),
 * then the active branch and git-annex unless already covered, each as
 * `branch` when it tracks a branch there and `branch:branch` otherwise
 * (push.py _append_branch_to_refspec_if_needed).
 */
export function refspecsFor(config: GitConfig, target: string, branch: string | undefined, isAnnex: boolean): string[] {
  const specs = config.getAll(`remote.${target}.push`);
  const append = (b: string): void => {
    const looksLike = new RegExp(`((^|.*:)refs/heads/|.*:|^)${b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    if (specs.some((s) => looksLike.test(s))) return;
    const tracks = config.get(`branch.${b}.remote`) === target && config.get(`branch.${b}.merge`) !== undefined;
    specs.push(tracks ? b : `${b}:${b}`);
  };
  // Managed (adjusted) branches are never pushed: their corresponding branch is.
  const real = branch?.startsWith('adjusted/') ? branch.replace(/^adjusted\//, '').replace(/\(.*\)$/, '') : branch;
  if (real) append(real);
  if (isAnnex) append('git-annex');
  return specs;
}

/**
 * The sibling's git-annex branch, fetched (through its pushurl, as DataLad
 * does) and merged, so the push of ours is a fast-forward. A sibling without
 * one yet is fine.
 */
export async function syncAnnexBranch(ds: string, config: GitConfig, target: string, signal?: AbortSignal): Promise<string | undefined> {
  const url = config.get(`remote.${target}.url`);
  const pushurl = config.get(`remote.${target}.pushurl`);
  const via = pushurl && url ? ['-c', `url.${pushurl}.insteadOf=${url}`] : [];
  const r = await git(ds, [...via, 'fetch', '--quiet', target, `+refs/heads/git-annex:refs/remotes/${target}/git-annex`], { signal });
  if (r.code !== 0) {
    if (/couldn't find remote ref/i.test(r.stderr)) return undefined;
    return firstErrorLine(r);
  }
  const merged = await git(ds, ['annex', 'merge'], { signal });
  return merged.code === 0 ? undefined : firstErrorLine(merged);
}

/** `git push --progress --porcelain [--force] TARGET REFSPECS`, one publish record per ref (or one error). */
export async function pushRefs(
  ds: string,
  refds: string,
  target: string,
  refspecs: string[],
  force: boolean,
  signal?: AbortSignal,
): Promise<PushRecord[]> {
  const r = await git(ds, ['push', '--progress', '--porcelain', ...(force ? ['--force'] : []), target, ...refspecs], { signal });
  const base = { action: 'publish' as const, path: ds, type: 'dataset' as const, refds, target };
  const refs = parsePorcelain(r.stdout);
  if (!refs.length) {
    return [{ ...base, status: 'error', message: `git push to ${target} failed: ${firstErrorLine(r)}` }];
  }
  const hints = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('hint: '))
    .map((l) => l.slice(6))
    .join('\n');
  return refs.map((p) => {
    const record: PushRecord = {
      ...base,
      status: refStatus(p.operations),
      refspec: `${p.from}:${p.to}`,
      operations: p.operations,
      message: `${p.from}->${target}:${p.to} ${p.note}`,
      hints: hints || null,
    };
    return record;
  });
}

/**
 * The steps every create-sibling-* command (OSF, S3, WebDAV) shares, so
 * they check, create and report alike: the dataset and its annex, the names
 * already taken (and --existing), `git annex initremote` with annexd's bin/
 * on PATH, a reachability check of a git deposit, and the record types.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readRemoteLog } from '../remotes/core/repo-settings.js';
import { withAnnexdBin } from '../util/bin-path.js';
import { OrchestrationError } from './errors.js';
import { git as runGit } from './git.js';
import type { SiblingRecord } from './siblings.js';

/** The options every create-sibling-* command takes. */
export interface CreateSiblingBaseOptions {
  /** Any path inside the dataset. */
  dataset: string;
  /** The annexd credential for the storage (its backend's chain when not given). */
  credential?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** The record of a create-sibling-* command about one sibling it made (or did not make). */
export interface CreateSiblingRecord<A extends string> {
  action: A;
  status: 'ok' | 'notneeded' | 'impossible' | 'error';
  path: string;
  type: 'dataset';
  message?: string;
  /** Where the sibling stores: the project page, s3://bucket/prefix, the collection URL. */
  url?: string;
  /** The OSF project's node id. */
  id?: string;
  /** The sibling the record is about. */
  name?: string;
}

/** What a create-sibling-* command yields: its own records and the git sibling's configure-sibling record. */
export type CreateSiblingResult<A extends string> = CreateSiblingRecord<A> | SiblingRecord;

// git-annex must find annexd's special remotes (and git its remote helpers) even without bin/ on PATH.
export const gitWithBin = (top: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal) =>
  runGit(top, args, { env: withAnnexdBin(env), signal });

export async function gitOrFail(top: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await gitWithBin(top, args, env);
  if (r.code !== 0) throw new OrchestrationError(`git ${args.slice(0, 3).join(' ')} failed: ${verdict(r.stderr || r.stdout)}`);
  return r.stdout;
}

/** git-annex's own verdict ("git-annex: …"), else the last line said. */
export function verdict(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('(recording state'));
  const said = lines.filter((l) => l.startsWith('git-annex: ')).pop();
  return (said ?? lines.pop() ?? 'no message').replace(/^git-annex: /, '');
}

/** The names a sibling may already have here: git remotes, and special remotes known from remote.log. */
export async function takenNames(top: string, env: NodeJS.ProcessEnv): Promise<Set<string>> {
  const names = new Set((await gitOrFail(top, ['remote'], env)).split('\n').filter(Boolean));
  const gitDir = (await gitOrFail(top, ['rev-parse', '--absolute-git-dir'], env)).trim();
  for (const config of (await readRemoteLog(gitDir)).values()) if (config.name) names.add(config.name);
  return names;
}

/**
 * The dataset's top directory and the base of its records; a record
 * "impossible: dataset has no annex" when git-annex is not initialised there.
 */
export async function openDataset<A extends string>(
  dataset: string,
  action: A,
  env: NodeJS.ProcessEnv,
): Promise<{ top: string; base: { action: A; path: string; type: 'dataset' }; noAnnex?: CreateSiblingRecord<A> }> {
  const r = await gitWithBin(dataset, ['rev-parse', '--show-toplevel'], env);
  if (r.code !== 0) throw new OrchestrationError(`${dataset} is not in a dataset (git repository): run ${action} inside the dataset, or give -d PATH`);
  const top = r.stdout.trim();
  const base = { action, path: top, type: 'dataset' } as const;
  const annexed = (await gitWithBin(top, ['config', '--get', 'annex.uuid'], env)).code === 0;
  return { top, base, noAnnex: annexed ? undefined : { ...base, status: 'impossible', message: 'dataset has no annex' } };
}

/** Names git, git-annex and DataLad all take, checked before anything is made (a refusal later would leave a storage sibling alone). */
export function requireUsableName(name: string, what: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.endsWith('.') || name.includes('..')) {
    throw new OrchestrationError(`${what} "${name}" is not a usable sibling name (letters, digits, ".", "_", "-"): give -s NAME`);
  }
}

/** The storage sibling's name must differ from the git sibling's. */
export function requireOwnStorageName(name: string, storageName: string): void {
  if (storageName === name) throw new OrchestrationError(`the storage sibling needs a name of its own (--storage-name "${storageName}" is also the sibling's name)`);
}

/**
 * --existing for the names a run would create: nothing when none is taken,
 * else one record per taken name, notneeded (skip) or error. "reconfigure"
 * is the caller's to handle (it returns no records then).
 */
export async function existingRecords<A extends string>(
  top: string,
  base: { action: A; path: string; type: 'dataset' },
  wanted: string[],
  existing: 'skip' | 'error' | 'reconfigure',
  env: NodeJS.ProcessEnv,
): Promise<{ taken: Set<string>; records: CreateSiblingRecord<A>[] }> {
  const taken = await takenNames(top, env);
  const conflicts = wanted.filter((n) => taken.has(n));
  if (existing === 'reconfigure') return { taken, records: [] };
  return {
    taken,
    records: conflicts.map((c) =>
      existing === 'skip'
        ? { ...base, status: 'notneeded', name: c, message: `a sibling '${c}' is already configured in dataset ${top}; skipped` }
        : { ...base, status: 'error', name: c, message: `a sibling '${c}' is already configured in dataset ${top}` },
    ),
  };
}

/**
 * `git annex initremote NAME PARAMS…` (or enableremote, to reconfigure one
 * that exists); undefined when it worked, else why not, in one line.
 */
export async function initStorage(top: string, name: string, params: string[], env: NodeJS.ProcessEnv, enable = false): Promise<string | undefined> {
  const r = await gitWithBin(top, ['annex', enable ? 'enableremote' : 'initremote', name, ...params], env);
  if (r.code === 0) return undefined;
  const command = enable ? 'enableremote' : 'initremote';
  // git-annex prefixes an external remote's refusal with "initremote failed:" itself.
  return `git annex ${command} ${name} failed: ${verdict(r.stderr || r.stdout).replace(`${command} failed: `, '')}`;
}

/**
 * Whether git can reach a deposit URL through the remote helper (`git
 * ls-remote`; an empty deposit is fine): undefined when it can, else the
 * helper's line. For git siblings made without a storage sibling, which
 * would otherwise be configured unchecked.
 */
export async function depositProblem(url: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string | undefined> {
  // Outside any repository, so the helper works in a scratch directory it removes, leaving no cache in the dataset.
  const outside = await mkdtemp(join(tmpdir(), 'annexd-deposit-check-'));
  let r;
  try {
    r = await gitWithBin(outside, ['ls-remote', url], { ...env, GIT_TERMINAL_PROMPT: '0', GIT_CEILING_DIRECTORIES: dirname(outside) }, signal);
  } finally {
    await rm(outside, { recursive: true, force: true });
  }
  if (r.code === 0) return undefined;
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => l.startsWith('git-remote-')) ?? lines[0] ?? `git ls-remote exited with code ${r.code}`).replace(/^git-remote-[a-z-]+: /, '');
}

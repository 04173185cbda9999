/**
 * "Nothing to send to this sibling" remembered across pushes, so a push with
 * nothing to do does not ask git-annex again where each of thousands of keys
 * is. What a sibling lacks depends only on the saved tree (HEAD), on
 * git-annex's branch (location logs, preferred content) and on the push's
 * options; so a note is written only when the sibling was found to lack
 * nothing, with the branch's commit at the end of that push, and it is used
 * only while HEAD's tree and the git-annex branch are exactly that commit,
 * with no uncommitted journal and no remote git-annex branch waiting to be
 * merged. The note lives in .git/annex/annexd/push-uptodate.json.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '../git.js';

export interface AnnexState {
  tree: string;
  annexBranch: string;
}

/** HEAD's tree and the git-annex branch, or undefined when git-annex has something pending that could change what is where. */
export async function annexState(ds: string, gitDir: string, signal?: AbortSignal): Promise<AnnexState | undefined> {
  const r = await git(ds, ['rev-parse', 'HEAD^{tree}', 'refs/heads/git-annex'], { signal });
  if (r.code !== 0) return undefined;
  const [tree, annexBranch] = r.stdout.trim().split('\n');
  if (!tree || !annexBranch) return undefined;
  for (const journal of ['journal', 'journal-private']) {
    const entries = await readdir(join(gitDir, 'annex', journal)).catch(() => []);
    if (entries.length) return undefined;
  }
  // A fetched git-annex branch of a remote that is not merged yet: the next git-annex command merges it.
  const pending = await git(ds, ['for-each-ref', '--format=%(refname)', 'refs/remotes/*/git-annex'], { signal });
  const refs = pending.stdout.split('\n').filter(Boolean);
  if (refs.length) {
    const unmerged = await git(ds, ['rev-list', '-n', '1', ...refs, '--not', 'refs/heads/git-annex'], { signal });
    if (unmerged.code !== 0 || unmerged.stdout.trim()) return undefined;
  }
  return { tree, annexBranch };
}

const fileOf = (gitDir: string): string => join(gitDir, 'annex', 'annexd', 'push-uptodate.json');

/** One fingerprint of the state and everything about the push that decides what a sibling gets. */
export function fingerprint(state: AnnexState, options: unknown): string {
  return createHash('sha256').update(JSON.stringify([state.tree, state.annexBranch, options])).digest('hex');
}

interface Notes {
  /** sibling → fingerprint of the state in which it lacked nothing */
  targets: Record<string, string>;
  /** Files sharing a key with an earlier one, for one tree and selection (they depend on nothing else). */
  duplicates?: { print: string; files: Array<{ file: string; key: string; bytes: number }> };
}

async function readNotes(gitDir: string): Promise<Notes> {
  try {
    const parsed = JSON.parse(await readFile(fileOf(gitDir), 'utf8')) as Partial<Notes> | null;
    return { targets: typeof parsed?.targets === 'object' && parsed.targets !== null ? parsed.targets : {}, ...(parsed?.duplicates ? { duplicates: parsed.duplicates } : {}) };
  } catch {
    return { targets: {} };
  }
}

/** Whether `target` was found to lack nothing in exactly this state. */
export async function knownUpToDate(gitDir: string, target: string, print: string): Promise<boolean> {
  return (await readNotes(gitDir)).targets[target] === print;
}

/** The duplicate files noted for this fingerprint (of the tree and selection), if any were. */
export async function knownDuplicates(gitDir: string, print: string): Promise<Notes['duplicates'] | undefined> {
  const d = (await readNotes(gitDir)).duplicates;
  return d?.print === print ? d : undefined;
}

/** Records (or, with undefined, forgets) the fingerprints of siblings found to lack nothing, and the duplicates. */
export async function noteUpToDate(gitDir: string, prints: Record<string, string | undefined>, duplicates?: Notes['duplicates']): Promise<void> {
  const notes = await readNotes(gitDir);
  for (const [target, print] of Object.entries(prints)) {
    if (print === undefined) delete notes.targets[target];
    else notes.targets[target] = print;
  }
  if (duplicates) notes.duplicates = duplicates;
  const file = fileOf(gitDir);
  // Written whole, then renamed: a push killed midway leaves the old notes, never half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(join(gitDir, 'annex', 'annexd'), { recursive: true, mode: 0o700 });
    await writeFile(tmp, JSON.stringify(notes), { mode: 0o600 });
    await rename(tmp, file);
  } catch {
    // Only a shortcut for the next push (which then checks again): a full disk must not turn the push's own results into this error.
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Whether the git-annex branch changed between `from` and `to` in a way that
 * concerns `uuid` (a location log line of it added or removed): if not, what
 * that sibling lacks is the same in both.
 */
export async function touchesUuid(ds: string, from: string, to: string, uuid: string, signal?: AbortSignal): Promise<boolean> {
  if (from === to) return false;
  const r = await git(ds, ['diff', '--unified=0', '--no-color', from, to], { signal });
  if (r.code !== 0) return true;
  return r.stdout.split('\n').some((l) => (l.startsWith('+') || l.startsWith('-')) && !l.startsWith('+++') && !l.startsWith('---') && l.includes(uuid));
}

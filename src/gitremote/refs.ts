/**
 * The XDLRA--refs file: one "<sha> <refname>" line per ref, as
 * `git for-each-ref` lists them, then "@<target of HEAD> HEAD".
 */
import { GitRemoteError } from './errors.js';
import { ok } from './git.js';

export interface RefsFile {
  refs: Array<{ sha: string; name: string }>;
  /** What HEAD points to, e.g. refs/heads/main. */
  head: string | undefined;
}

export function formatRefs(f: RefsFile): string {
  let s = f.refs.map((r) => `${r.sha} ${r.name}\n`).join('');
  if (f.head) s += `@${f.head} HEAD\n`;
  return s;
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Parses a refs file; anything else is a corrupt deposit (`where` names it). */
export function parseRefs(text: string, where: string): RefsFile {
  const out: RefsFile = { refs: [], head: undefined };
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = /^(\S+) (\S+)$/.exec(line);
    if (m && m[2] === 'HEAD' && m[1]!.startsWith('@refs/')) out.head = m[1]!.slice(1);
    else if (m && SHA.test(m[1]!) && m[2]!.startsWith('refs/') && !m[2]!.includes('..')) out.refs.push({ sha: m[1]!, name: m[2]! });
    else throw new GitRemoteError(`the refs file of ${where} is corrupt: line "${line.slice(0, 80)}" is not "<sha> refs/…" or "@refs/… HEAD"`);
  }
  if (!text.endsWith(' HEAD\n')) throw new GitRemoteError(`the refs file of ${where} is corrupt or truncated: it does not end in the "@refs/… HEAD" line`);
  return out;
}

/** The refs of a bare repository, in the file's order (for-each-ref sorts by name). */
export async function repoRefs(gitDir: string): Promise<RefsFile> {
  const out = await ok(gitDir, 'listing refs', 'git', ['--git-dir', gitDir, 'for-each-ref', '--format=%(objectname) %(refname)']);
  const head = (await ok(gitDir, 'reading HEAD', 'git', ['--git-dir', gitDir, 'symbolic-ref', '-q', 'HEAD']).catch(() => '')).trim();
  return {
    refs: out
      .split('\n')
      .filter((l) => l)
      .map((l) => {
        const [sha, name] = l.split(' ');
        return { sha: sha!, name: name! };
      }),
    head: head || undefined,
  };
}

/**
 * Fetch and merge from a sibling before a push, as `git annex sync` does
 * (the branch and the git-annex branch), by the real git-annex: no content,
 * no commit of the work tree, no push.
 */
import { OrchestrationError } from './errors.js';
import { firstErrorLine, git } from './git.js';

export async function pullFrom(ds: string, sibling: string, signal?: AbortSignal): Promise<void> {
  // git-annex 10.20230626 has `git annex pull`; Debian bookworm's 10.20230126 has only sync, which does the same with these flags.
  const r = await git(ds, ['annex', 'sync', '--no-push', '--no-commit', '--no-content', sibling], { signal });
  if (r.code !== 0) throw new OrchestrationError(`pull from ${sibling}: ${firstErrorLine(r)}`);
}

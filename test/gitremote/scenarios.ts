/** The clone/push/fetch story and the two-writers race, run against each kind of storage. */
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Sandbox } from '../support/annex.js';
import { commit, git, gitOk, log, newRepo } from './helpers.js';

export type Ctx = Pick<Sandbox, 'dir' | 'env'>;

let n = 0;

/**
 * First push to an empty deposit, clone, a second push, fetch; a push whose
 * base is behind is refused by git ("fetch first") and leaves the deposit and
 * the pusher's commits as they were; --force replaces.
 */
export async function cloneFetchPush(ctx: Ctx, url: string, program = 'git-remote-datalad-annex'): Promise<void> {
  const tag = `s${++n}`;
  const a = await newRepo(ctx as Sandbox, `${tag}-a`, 'one', 'two');
  await gitOk(ctx as Sandbox, a, 'remote', 'add', 'dep', url);
  const first = await git(ctx as Sandbox, a, 'push', 'dep', 'main');
  expect(first.code, first.stderr).toBe(0);
  expect(first.stderr).toMatch(/\* \[new branch\]\s+main -> main/);

  const b = join(ctx.dir, `${tag}-b`);
  const cl = await git(ctx as Sandbox, ctx.dir, 'clone', url, b);
  expect(cl.code, cl.stderr).toBe(0);
  expect(await log(ctx as Sandbox, b)).toEqual(['two', 'one']);
  expect(cl.stderr).not.toMatch(new RegExp(`${program}: `));

  await commit(ctx as Sandbox, b, 'three');
  const second = await git(ctx as Sandbox, b, 'push');
  expect(second.code, second.stderr).toBe(0);
  expect(second.stderr).toMatch(/\.\.[0-9a-f]+\s+main -> main/);

  const fetched = await git(ctx as Sandbox, a, 'fetch', 'dep');
  expect(fetched.code, fetched.stderr).toBe(0);
  expect(await log(ctx as Sandbox, a, 'dep/main')).toEqual(['three', 'two', 'one']);

  // a behind: its new commit is refused, and stays
  await commit(ctx as Sandbox, a, 'diverged');
  const mine = (await gitOk(ctx as Sandbox, a, 'rev-parse', 'HEAD')).trim();
  await gitOk(ctx as Sandbox, a, 'update-ref', 'refs/remotes/dep/main', 'HEAD~1');
  const refused = await git(ctx as Sandbox, a, 'push', 'dep', 'main');
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/! \[rejected\]\s+main -> main \((fetch first|non-fast-forward)\)/);
  expect((await gitOk(ctx as Sandbox, a, 'rev-parse', 'HEAD')).trim()).toBe(mine);
  const c = join(ctx.dir, `${tag}-c`);
  expect((await git(ctx as Sandbox, ctx.dir, 'clone', url, c)).code).toBe(0);
  expect(await log(ctx as Sandbox, c)).toEqual(['three', 'two', 'one']);

  const forced = await git(ctx as Sandbox, a, 'push', '--force', 'dep', 'main');
  expect(forced.code, forced.stderr).toBe(0);
  expect(forced.stderr).toMatch(/\(forced update\)/);
  const fetchedC = await git(ctx as Sandbox, c, 'fetch');
  expect(fetchedC.code, fetchedC.stderr).toBe(0);
  expect(await log(ctx as Sandbox, c, 'origin/main')).toEqual(['diverged', 'two', 'one']);
}

/**
 * Two clones of one deposit push different commits at the same moment: one
 * wins, the other is refused with git's rejected line and a non-zero exit,
 * keeps its commit, and after a pull its push lands: nothing is lost.
 */
export async function twoWriters(ctx: Ctx, url: string): Promise<void> {
  const tag = `w${++n}`;
  const base = await newRepo(ctx as Sandbox, `${tag}-base`, 'base');
  await gitOk(ctx as Sandbox, base, 'remote', 'add', 'dep', url);
  const p = await git(ctx as Sandbox, base, 'push', 'dep', 'main');
  expect(p.code, p.stderr).toBe(0);
  const [x, y] = [join(ctx.dir, `${tag}-x`), join(ctx.dir, `${tag}-y`)];
  for (const d of [x, y]) expect((await git(ctx as Sandbox, ctx.dir, 'clone', url, d)).code).toBe(0);
  const cx = await commit(ctx as Sandbox, x, 'from-x');
  const cy = await commit(ctx as Sandbox, y, 'from-y');
  const [rx, ry] = await Promise.all([git(ctx as Sandbox, x, 'push'), git(ctx as Sandbox, y, 'push')]);
  const results = [rx, ry];
  const winners = results.filter((r) => r.code === 0);
  expect(winners, results.map((r) => r.stderr).join('\n---\n')).toHaveLength(1);
  const loser = rx.code === 0 ? { r: ry, dir: y, sha: cy, name: 'from-y' } : { r: rx, dir: x, sha: cx, name: 'from-x' };
  const winner = rx.code === 0 ? 'from-x' : 'from-y';
  expect(loser.r.stderr).toMatch(/! \[(remote )?rejected\]\s+main -> main \(fetch first\)/);
  expect((await gitOk(ctx as Sandbox, loser.dir, 'rev-parse', 'HEAD')).trim()).toBe(loser.sha);

  const check = join(ctx.dir, `${tag}-check`);
  expect((await git(ctx as Sandbox, ctx.dir, 'clone', url, check)).code).toBe(0);
  expect(await log(ctx as Sandbox, check)).toEqual([winner, 'base']);

  const pull = await git(ctx as Sandbox, loser.dir, 'pull', '--rebase');
  expect(pull.code, pull.stderr).toBe(0);
  const again = await git(ctx as Sandbox, loser.dir, 'push');
  expect(again.code, again.stderr).toBe(0);
  const fetched = await git(ctx as Sandbox, check, 'pull', '--ff-only');
  expect(fetched.code, fetched.stderr).toBe(0);
  expect(await log(ctx as Sandbox, check)).toEqual([loser.name, winner, 'base']);
}

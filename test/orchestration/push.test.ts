/**
 * annexd push on real git and git-annex, with local siblings (bare
 * repositories, directory special remotes): order, dependencies, cycles,
 * --since, --data, export remotes, subdatasets, records and exit codes.
 * The same against real S3 and WebDAV servers is in push-servers.test.ts.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { annexd, bareSibling, dataset, directoryRemote, pushJson, recordPushes, refOf, whereis } from '../support/push.js';
import { push, type PushEvent } from '../../src/orchestration/push/index.js';
import { BIN_DIR, requireTool } from '../support/tools.js';
import { descendants, until } from '../support/kill.js';
import { spawn } from 'node:child_process';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(() => sandbox?.cleanup());

const FILES = { 'a.dat': 'alpha\n', 'sub/b.dat': 'beta\n', 'c.txt': 'gamma\n', 'dup.dat': 'alpha\n' };

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
  return n;
}

describe('annexd push', () => {
  it('two dependencies (multi-valued and whitespace-split): content on both before the refs arrive, then "Everything is up to date"', async () => {
    const ds = await dataset(sandbox, 'two', FILES);
    const s1 = await directoryRemote(ds, sandbox, 'store1');
    const s2 = await directoryRemote(ds, sandbox, 'store2');
    const s3 = await directoryRemote(ds, sandbox, 'store3');
    const origin = await bareSibling(sandbox, 'origin');
    const log = join(sandbox.dir, 'two.log');
    await recordPushes(origin, log, `find ${s1} ${s2} ${s3} -type f | wc -l`);
    const add = await annexd(ds, ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 'store1']);
    expect(add.code, add.stderr).toBe(0);
    // A second value holding two names: DataLad 0.18 would read "store2 store3" as one name.
    await ds.ok('git', 'config', '--add', 'remote.origin.datalad-publish-depends', 'store2 store3');
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');

    const text = await annexd(ds, ['push', '--to', 'origin']);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^copy\(ok\): a\.dat \(file\) \[to store1\.\.\.\]$/m);
    expect(text.stdout).toMatch(/^copy\(ok\): sub\/b\.dat \(file\) \[to store3\.\.\.\]$/m);
    expect(text.stdout).toMatch(/^publish\(ok\): \. \(dataset\) \[refs\/heads\/main->origin:refs\/heads\/main \[new branch\]\]$/m);
    expect(text.stdout).toMatch(/^action summary:\n {2}copy \(notneeded: 3, ok: 9\)\n {2}publish \(ok: 2\)$/m);
    expect(text.stdout).not.toMatch(/Everything is up to date/);
    // 3 distinct keys on each of the three stores when the hook ran.
    expect((await readFile(log, 'utf8')).trim()).toMatch(/^push 9 /);
    for (const f of ['a.dat', 'sub/b.dat', 'c.txt']) expect(await whereis(ds, f)).toEqual(['store1', 'store2', 'store3']);
    expect(await refOf(origin, 'refs/heads/main', ds.env)).toBe(await refOf(ds.path, 'HEAD', ds.env));
    expect(await refOf(origin, 'refs/heads/git-annex', ds.env)).toBe(await refOf(ds.path, 'refs/heads/git-annex', ds.env));

    const again = await annexd(ds, ['push', '--to', 'origin']);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/copy\(/);
    expect(again.stdout).toMatch(/^Everything is up to date$/m);
  });

  it('-J 4 to two siblings at once: every transfer succeeds (two multi-threaded git-annex processes would trip fcntl deadlock detection)', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`many/f${i}.dat`] = `content ${i}\n`;
    const ds = await dataset(sandbox, 'parallel', files);
    const d1 = await directoryRemote(ds, sandbox, 'd1');
    const d2 = await directoryRemote(ds, sandbox, 'd2');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'd1 d2']);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    const { r, records } = await pushJson(ds, ['--to', 'origin', '-J', '4']);
    expect(records.filter((x) => x.status === 'error').map((x) => x.error_message ?? x.message)).toEqual([]);
    expect(r.code).toBe(0);
    expect(records.filter((x) => x.action === 'copy' && x.status === 'ok')).toHaveLength(300);
    expect(await countFiles(d1)).toBe(150);
    expect(await countFiles(d2)).toBe(150);
  });

  it('a no-op push trusts its note only while nothing changed: a drop behind its back is copied again', async () => {
    const ds = await dataset(sandbox, 'notes', { 'n1.dat': 'n1\n', 'n2.dat': 'n2\n' });
    const store = await directoryRemote(ds, sandbox, 'store');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'store']);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    expect((await annexd(ds, ['push', '--to', 'origin'])).code).toBe(0);
    const notes = JSON.parse(await readFile(join(ds.path, '.git/annex/annexd/push-uptodate.json'), 'utf8')) as { targets: Record<string, string> };
    expect(Object.keys(notes.targets)).toEqual(['store']);
    expect((await annexd(ds, ['push', '--to', 'origin'])).stdout).toMatch(/^Everything is up to date$/m);
    // Another clone of the story: the content leaves the store, and git-annex records it.
    await ds.ok('git', 'annex', 'drop', '--force', '--from', 'store', 'n1.dat');
    expect(await countFiles(store)).toBe(1);
    const { r, records } = await pushJson(ds, ['--to', 'origin']);
    expect(r.code, r.stderr).toBe(0);
    expect(records.filter((x) => x.action === 'copy').map((x) => `${x.status} ${x.path.slice(ds.path.length + 1)}`)).toEqual(['ok n1.dat']);
    expect(await countFiles(store)).toBe(2);
    // A new commit, and a location change merged from elsewhere, each invalidate it too.
    await ds.write('n3.dat', 'n3\n');
    await ds.commitAll('n3');
    expect((await pushJson(ds, ['--to', 'origin'])).records.filter((x) => x.action === 'copy').map((x) => x.path.slice(ds.path.length + 1))).toEqual(['n3.dat']);
  });

  it('a chain a -> b -> c is pushed c first, then b, then a', async () => {
    const ds = await dataset(sandbox, 'chain', { 'x.dat': 'x\n' });
    const c = await directoryRemote(ds, sandbox, 'c');
    const b = await bareSibling(sandbox, 'b');
    const a = await bareSibling(sandbox, 'a');
    const log = join(sandbox.dir, 'chain.log');
    await recordPushes(b, log, `echo b c-files=$(find ${c} -type f | wc -l)`);
    await recordPushes(a, log, `echo a b-main=$(git -C ${b} rev-parse --verify --quiet refs/heads/main >/dev/null && echo yes || echo no)`);
    expect((await annexd(ds, ['siblings', 'add', '-s', 'b', '--url', b, '--publish-depends', 'c'])).code).toBe(0);
    expect((await annexd(ds, ['siblings', 'add', '-s', 'a', '--url', a, '--publish-depends', 'b'])).code).toBe(0);
    const { r, records } = await pushJson(ds, ['--to', 'a']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines[0]).toMatch(/^push b c-files=1 /);
    expect(lines[1]).toMatch(/^push a b-main=yes /);
    // b is a git-annex repository too: it got the content itself (not annex-ignored).
    expect(records.filter((x) => x.action === 'copy' && x.status === 'ok').map((x) => x.target).sort()).toEqual(['a', 'b', 'c']);
    expect(records.filter((x) => x.action === 'publish').map((x) => `${x.target} ${x.status}`)).toEqual(expect.arrayContaining(['a ok', 'b ok']));
  });

  it('refuses a cycle with its path, pushes nothing, exits 1; siblings configure refuses to make one', async () => {
    const ds = await dataset(sandbox, 'cycle', { 'y.dat': 'y\n' });
    const p = await bareSibling(sandbox, 'p');
    const q = await bareSibling(sandbox, 'q');
    const s = await directoryRemote(ds, sandbox, 'st');
    await annexd(ds, ['siblings', 'add', '-s', 'p', '--url', p]);
    await annexd(ds, ['siblings', 'add', '-s', 'q', '--url', q, '--publish-depends', 'p st']);
    const refused = await annexd(ds, ['siblings', 'configure', '-s', 'p', '--publish-depends', 'q']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/would make a cycle p -> q -> p/);
    // Written by hand (as DataLad would let it be): push must refuse it, not loop.
    await ds.ok('git', 'config', '--add', 'remote.p.datalad-publish-depends', 'q');
    const r = await annexd(ds, ['push', '--to', 'q']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^publish\(error\): \. \(dataset\) \[publication dependencies form a cycle: q -> p -> q/m);
    expect(await refOf(p, 'refs/heads/main', ds.env)).toBe('');
    expect(await refOf(q, 'refs/heads/main', ds.env)).toBe('');
    expect(await countFiles(s)).toBe(0);
  });

  it('a failed dependency stops the git push that depends on it, not the independent one', async () => {
    const ds = await dataset(sandbox, 'fail', { 'z.dat': 'z\n' });
    const good = await directoryRemote(ds, sandbox, 'good');
    const bad = await directoryRemote(ds, sandbox, 'bad');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'good', '--publish-depends', 'bad']);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    // The directory vanishes: every store to "bad" fails.
    await import('node:fs/promises').then((fs) => fs.rm(bad, { recursive: true }));
    const { r, records } = await pushJson(ds, ['--to', 'origin']);
    expect(r.code).toBe(1);
    expect(records.find((x) => x.target === 'good' && x.action === 'copy')?.status).toBe('ok');
    expect(records.find((x) => x.target === 'bad' && x.action === 'copy')?.status).toBe('error');
    const pub = records.find((x) => x.action === 'publish');
    expect(pub).toMatchObject({ status: 'error', target: 'origin', type: 'dataset' });
    expect(pub?.message).toMatch(/not pushed to 'origin': publication dependency 'bad' failed/);
    expect(await refOf(origin, 'refs/heads/main', ds.env)).toBe('');
    expect(await countFiles(good)).toBe(1);
  });

  it('--since=^ sends only what changed since the sibling\'s branch; --data nothing sends no content', async () => {
    const ds = await dataset(sandbox, 'since', { 'one.dat': '1\n', 'two.dat': '2\n' });
    const store = await directoryRemote(ds, sandbox, 'store');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'store']);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    expect((await annexd(ds, ['push', '--to', 'origin', '--data', 'nothing'])).code).toBe(0);
    expect(await countFiles(store)).toBe(0);
    expect(await refOf(origin, 'refs/heads/main', ds.env)).toBe(await refOf(ds.path, 'HEAD', ds.env));
    await ds.write('three.dat', '3\n');
    await ds.commitAll('three');
    const { r, records } = await pushJson(ds, ['--to', 'origin', '--since', '^']);
    expect(r.code, r.stderr).toBe(0);
    // one.dat and two.dat were never copied, but did not change since origin/main: --since=^ leaves them.
    expect(records.filter((x) => x.action === 'copy').map((x) => x.path.slice(ds.path.length + 1))).toEqual(['three.dat']);
    const nothing = await pushJson(ds, ['--to', 'origin', '--since', '^']);
    expect(nothing.records).toEqual([expect.objectContaining({ status: 'notneeded', message: 'Given constraints did not match any changes to publish' })]);
    const all = await pushJson(ds, ['--to', 'origin']);
    expect(all.records.filter((x) => x.action === 'copy' && x.status === 'ok')).toHaveLength(2);
  });

  it('--data auto and the default auto-if-wanted honour the sibling\'s wanted expression', async () => {
    const ds = await dataset(sandbox, 'wanted', { 'keep.txt': 't\n', 'skip.dat': 'd\n' });
    const store = await directoryRemote(ds, sandbox, 'store');
    const all = await directoryRemote(ds, sandbox, 'all');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'configure', '-s', 'store', '--annex-wanted', 'include=*.txt']);
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'store all']);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    const r = await annexd(ds, ['push', '--to', 'origin']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await whereis(ds, 'keep.txt')).toEqual(['all', 'store']);
    expect(await whereis(ds, 'skip.dat')).toEqual(['all']);
    expect(await countFiles(store)).toBe(1);
    expect(await countFiles(all)).toBe(2);
  });

  it('an export remote gets git annex export HEAD: the tree, by path', async () => {
    const ds = await dataset(sandbox, 'export', { 'e/one.dat': 'one\n', 'two.dat': 'two\n' });
    const ex = await directoryRemote(ds, sandbox, 'ex', ['exporttree=yes']);
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'ex']);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    const { r, records } = await pushJson(ds, ['--to', 'origin']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readFile(join(ex, 'e', 'one.dat'), 'utf8')).toBe('one\n');
    expect(await readFile(join(ex, 'README.md'), 'utf8')).toMatch(/dataset export/);
    expect(records.filter((x) => x.target === 'ex').every((x) => x.action === 'copy' && x.status === 'ok')).toBe(true);
    expect(records.some((x) => x.path === join(ds.path, 'e/one.dat') && x.target === 'ex')).toBe(true);
  });

  it('unsaved changes are never pushed: the saved state is, and a note says so', async () => {
    const ds = await dataset(sandbox, 'unsaved', { 'f.dat': 'saved\n' });
    const store = await directoryRemote(ds, sandbox, 'store');
    const key = await ds.key('f.dat');
    await ds.ok('git', 'annex', 'unlock', 'f.dat');
    await writeFile(join(ds.path, 'f.dat'), 'not saved\n');
    await ds.write('new.dat', 'never added\n');
    const { r, records } = await pushJson(ds, ['--to', 'store']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(/1 file has unsaved changes: the last saved state is pushed, not the changes/);
    expect(records.filter((x) => x.action === 'copy')).toEqual([expect.objectContaining({ status: 'ok', annexkey: key, path: join(ds.path, 'f.dat') })]);
    expect(await countFiles(store)).toBe(1);
  });

  it('subdatasets with -r are pushed bottom-up; an uninstalled one is reported', async () => {
    const sup = await dataset(sandbox, 'super', { 'top.dat': 'top\n' });
    const sub = await dataset(sandbox, 'super/child', { 'leaf.dat': 'leaf\n' });
    await sup.ok('git', 'submodule', 'add', '-q', './child', 'child');
    await sup.ok('git', 'commit', '-q', '-m', 'child');
    const supBare = await bareSibling(sandbox, 'supbare');
    const subBare = await bareSibling(sandbox, 'subbare');
    const log = join(sandbox.dir, 'rec.log');
    await recordPushes(supBare, log, 'echo super');
    await recordPushes(subBare, log, 'echo child');
    expect((await annexd(sup, ['siblings', 'add', '-s', 'pub', '--url', supBare])).code).toBe(0);
    expect((await annexd(sub, ['siblings', 'add', '-s', 'pub', '--url', subBare])).code).toBe(0);
    const { r, records } = await pushJson(sup, ['--to', 'pub', '-r']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await readFile(log, 'utf8')).trim().split('\n').map((l) => l.split(' ')[1])).toEqual(['child', 'super']);
    expect(records.some((x) => x.action === 'copy' && x.path === join(sub.path, 'leaf.dat'))).toBe(true);
    expect(await refOf(subBare, 'refs/heads/main', sub.env)).toBe(await refOf(sub.path, 'HEAD', sub.env));

    // --since REF in the superdataset: the subdataset since the commit recorded for it at REF.
    await sub.write('later.dat', 'later\n');
    await sub.commitAll('later');
    await sup.ok('git', 'commit', '-q', '-a', '-m', 'child moved on');
    const since = await pushJson(sup, ['--to', 'pub', '-r', '--since', 'HEAD~1']);
    expect(since.r.code, since.r.stdout + since.r.stderr).toBe(0);
    expect(since.records.filter((x) => x.action === 'copy').map((x) => x.path)).toEqual([join(sub.path, 'later.dat')]);
    expect(await refOf(supBare, 'refs/heads/main', sup.env)).toBe(await refOf(sup.path, 'HEAD', sup.env));

    // A clone whose subdataset is not installed.
    const clone = await AnnexRepo.clone(sandbox, sup, 'super-clone');
    const named = await annexd(clone, ['push', '--to', 'origin', 'child']);
    expect(named.code).toBe(1);
    expect(named.stdout).toMatch(/^publish\(error\): child \(dataset\) \[Cannot publish subdataset, not present: .*super-clone\/child\]$/m);
    const rec = await annexd(clone, ['push', '--to', 'origin', '-r', '--data', 'nothing']);
    expect(rec.stderr).toMatch(/subdataset not installed, not pushed: .*child/);
  });

  it('bad input: an unknown --to, no target, a rejected push; each one line and exit 1', async () => {
    const ds = await dataset(sandbox, 'bad', { 'b.dat': 'b\n' });
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin]);
    const unknown = await annexd(ds, ['push', '--to', 'nosuch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/^publish\(error\): \. \(dataset\) \[Unknown push target 'nosuch'\. Known targets: 'origin'\.\]$/m);
    const none = await annexd(ds, ['push']);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/publish\(impossible\): \. \(dataset\) \[No push target given, and none could be auto-detected, please specify via --to\]/);
    const hint = await pushJson(ds, ['origin']);
    expect(hint.records[0]?.message).toBe('origin matches a sibling name and not a path. Forgot --to?');
    expect((await annexd(ds, ['push', '--to', 'origin'])).code).toBe(0);
    // Someone else pushed to origin: ours is no longer a fast-forward.
    const other = await AnnexRepo.clone(sandbox, new AnnexRepo(origin, ds.env), 'other');
    await other.write('o.dat', 'other\n');
    await other.commitAll('other');
    await other.ok('git', 'push', '-q', 'origin', 'main');
    await ds.write('mine.dat', 'mine\n');
    await ds.commitAll('mine');
    const rejected = await pushJson(ds, ['--to', 'origin']);
    expect(rejected.r.code).toBe(1);
    const main = rejected.records.find((x) => x.refspec === 'refs/heads/main:refs/heads/main');
    expect(main).toMatchObject({ status: 'error', operations: expect.arrayContaining(['rejected']) });
    expect(main?.message).toMatch(/^refs\/heads\/main->origin:refs\/heads\/main \[rejected\] \(fetch first\)$/);
    const usage = await annexd(ds, ['push', '--data', 'some']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--data must be one of auto, anything, nothing, auto-if-wanted/);
  });

  it('a plain git repository (no git-annex): only its branch is pushed', async () => {
    const plain = new AnnexRepo(join(sandbox.dir, 'plain'), sandbox.env);
    await mkdir(plain.path);
    await plain.ok('git', 'init', '-q');
    await plain.write('x.txt', 'x\n');
    await plain.ok('git', 'add', 'x.txt');
    await plain.ok('git', 'commit', '-q', '-m', 'x');
    const bare = join(sandbox.dir, 'plain-bare.git');
    await plain.ok('git', 'init', '-q', '--bare', bare);
    expect((await annexd(plain, ['siblings', 'add', '-s', 'pub', '--url', bare])).code).toBe(0);
    const { r, records } = await pushJson(plain, ['--to', 'pub']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(records.map((x) => `${x.action} ${x.status} ${x.refspec}`)).toEqual(['publish ok refs/heads/main:refs/heads/main']);
  });

  it('without --to: the sibling the branch tracks, as git push would choose; --since=^ from its tracking branch', async () => {
    const src = await dataset(sandbox, 'upstream-src', { 'u.dat': 'u\n' });
    const bare = await bareSibling(sandbox, 'upstream');
    await src.ok('git', 'push', '-q', bare, 'main');
    const clone = await AnnexRepo.clone(sandbox, new AnnexRepo(bare, sandbox.env), 'upstream-clone');
    await clone.write('v.dat', 'v\n');
    await clone.commitAll('v');
    const { r, records } = await pushJson(clone, ['--since', '^']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The branch tracks origin/main, so the refspec is the branch alone and the content goes to origin.
    expect(records.filter((x) => x.action === 'copy').map((x) => `${x.target} ${x.path.slice(clone.path.length + 1)}`)).toEqual(['origin v.dat']);
    expect(records.find((x) => x.refspec === 'refs/heads/main:refs/heads/main')).toMatchObject({ status: 'ok', target: 'origin' });
    expect(await refOf(bare, 'refs/heads/main', clone.env)).toBe(await refOf(clone.path, 'HEAD', clone.env));
  });

  it('--dry-run shows the plan in order and changes nothing', async () => {
    const ds = await dataset(sandbox, 'dry', { 'd.dat': 'd\n' });
    const s = await directoryRemote(ds, sandbox, 's');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 's']);
    const r = await annexd(ds, ['push', '--to', 'origin', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^would push to s: copy 1 file \(2 B\)/);
    expect(r.stdout).toMatch(/would push to origin \(after s\): copy 1 file \(2 B\), then git push main:main git-annex:git-annex/);
    expect(await countFiles(s)).toBe(0);
    expect(await refOf(origin, 'refs/heads/main', ds.env)).toBe('');
  });

  it('a progress line on a terminal only', async () => {
    requireTool('script', 'apt-get install -y bsdutils');
    const ds = await dataset(sandbox, 'tty', { 'p.dat': 'x'.repeat(2 * 1024 * 1024) });
    await directoryRemote(ds, sandbox, 's');
    const piped = await annexd(ds, ['push', '--to', 's']);
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toMatch(/\r|push: s/);
    await ds.ok('git', 'annex', 'drop', '--force', '--from', 's', 'p.dat');
    // script(1) gives annexd a terminal for stdout and stderr.
    const tty = await ds.run('script', ['-qefc', `${join(BIN_DIR, 'annexd')} push --to s`, '/dev/null']);
    expect(tty.code, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/\r\x1b\[Kpush: s \[[#.]{12}\] \d+% \d\/1 files/);
    expect(tty.stdout).toMatch(/copy\(ok\): p\.dat \(file\) \[to s\.\.\.\]/);
  });

  it('Ctrl-C during the transfers: exit 130, every git-annex process ended, no git push', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 300; i++) many[`c/${i}.dat`] = `c${i}\n`;
    const ds = await dataset(sandbox, 'ctrlc', many);
    await directoryRemote(ds, sandbox, 'ctrlcstore');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(ds, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'ctrlcstore']);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    const child = spawn(join(BIN_DIR, 'annexd'), ['push', '--to', 'origin', '-J', '2'], { cwd: ds.path, env: ds.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await until('the first copies', () => (out.match(/copy\(ok\)/g) ?? []).length >= 3);
    const annexes = descendants(child.pid as number, 'git-annex');
    expect(annexes.length, 'git-annex processes under annexd').toBeGreaterThan(0);
    // As a terminal sends it: to the whole process group.
    process.kill(-(child.pid as number), 'SIGINT');
    expect(await exited, out).toBe(130);
    expect(out).toMatch(/annexd push: interrupted/);
    const gone = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    await until('every git-annex process annexd started to end', () => annexes.every(gone), 15_000);
    expect(await refOf(origin, 'refs/heads/main', ds.env)).toBe('');
  });

  it('the API yields typed events and stops at an AbortSignal', async () => {
    const ds = await dataset(sandbox, 'api', { 'k.dat': 'k\n' });
    await directoryRemote(ds, sandbox, 's');
    Object.assign(process.env, sandbox.env);
    const events: PushEvent[] = [];
    const it = push(ds.path, { to: 's' });
    for await (const e of it) events.push(e);
    expect(events.filter((e) => e.kind === 'record').map((e) => e.kind === 'record' && e.record.status)).toEqual(['ok']);
    expect(events.some((e) => e.kind === 'progress')).toBe(true);
    const abort = new AbortController();
    abort.abort(new Error('stopped by the caller'));
    await expect(async () => {
      for await (const e of push(ds.path, { to: 's', signal: abort.signal })) void e;
    }).rejects.toThrow('stopped by the caller');
    expect(existsSync(ds.path)).toBe(true);

    // Aborted during the transfers: the git-annex processes are ended, the iterator rejects, no git push.
    const many: Record<string, string> = {};
    for (let i = 0; i < 200; i++) many[`m/${i}.dat`] = `m${i}\n`;
    const big = await dataset(sandbox, 'api-abort', many);
    const store = await directoryRemote(big, sandbox, 'store');
    const origin = await bareSibling(sandbox, 'origin');
    await annexd(big, ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 'store']);
    const midway = new AbortController();
    let copies = 0;
    await expect(async () => {
      for await (const e of push(big.path, { to: 'origin', signal: midway.signal })) {
        if (e.kind === 'record' && e.record.action === 'copy' && ++copies === 5) midway.abort(new Error('interrupted midway'));
      }
    }).rejects.toThrow('interrupted midway');
    expect(await countFiles(store)).toBeLessThan(200);
    expect(await refOf(origin, 'refs/heads/main', big.env)).toBe('');
  });
});

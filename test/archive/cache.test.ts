/**
 * Parallel gets and the cache: `get -J4` of many members of one tar.gz whose
 * archive key is not here fetches the archive once (counted at the web server
 * it comes from) and decompresses it once (counted in the remote's --debug
 * lines), both with one remote process (ASYNC) and with one per job (the
 * lock between processes). An archive bigger than cachesize is streamed
 * instead; the cache keeps within cachesize and drops what is older than
 * cacheage.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { annexArchive, countingServer, initArchiveRemote, makeArchive, memberUrl, writeTree, type CountingServer } from '../support/archive.js';

let sandbox: Sandbox;
let web: CountingServer;
const MEMBERS = 120;
const contents = Array.from({ length: MEMBERS }, (_, i) => randomBytes(2000 + i * 37));

beforeAll(async () => {
  sandbox = await createSandbox();
  const www = join(sandbox.dir, 'www');
  await writeTree(
    join(sandbox.dir, 'src'),
    Object.fromEntries(contents.map((c, i) => [`many/d${i % 7}/m${i}.bin`, c])),
  );
  await mkdir(www);
  await makeArchive('tar.gz', join(sandbox.dir, 'src'), 'many', join(www, 'many.tar.gz'));
  web = await countingServer(www);
});
afterAll(async () => {
  await web?.stop();
  await sandbox?.cleanup();
});

const cacheDir = (repo: AnnexRepo): string => join(repo.path, '.git/annex/annexd/archives');

/** A clone of a repo with every member registered; the archive's only copy is its web URL. */
async function manyMembers(name: string): Promise<{ repo: AnnexRepo; akey: string }> {
  const origin = await AnnexRepo.create(sandbox, `${name}-origin`);
  await origin.write('many.tar.gz', await readFile(join(sandbox.dir, 'www', 'many.tar.gz')));
  const akey = await annexArchive(origin, 'many.tar.gz');
  await initArchiveRemote(origin);
  // Members added through the remote while the archive is here (addurl --batch: one process).
  const batch = contents.map((c, i) => `${memberUrl(akey, `many/d${i % 7}/m${i}.bin`, c.length)} out/m${i}.bin`).join('\n') + '\n';
  const r = await exec('git', ['annex', 'addurl', '--batch', '--with-files'], { cwd: origin.path, env: origin.env, input: batch });
  expect(r.code, r.stderr).toBe(0);
  await origin.ok('git', 'commit', '-q', '-m', 'members');
  await origin.ok('git', 'annex', 'registerurl', akey, `${web.url}/many.tar.gz`);
  await origin.ok('git', 'rm', '-q', 'many.tar.gz');
  await origin.ok('git', 'commit', '-q', '-m', 'archive removed from the tree');
  // A clone has neither the archive nor a cache: the members' source is the archive's web URL.
  const repo = await AnnexRepo.clone(sandbox, origin, name);
  await repo.ok('git', 'annex', 'enableremote', 'arch');
  // Nothing in origin either: not the members, not the archive.
  await origin.ok('git', 'annex', 'drop', '--quiet', '--force', 'out');
  await origin.ok('git', 'annex', 'drop', '--quiet', '--force', '--key', akey);
  await repo.ok('git', 'annex', 'sync', '--quiet', '--no-push', '--no-content', 'origin');
  return { repo, akey };
}

async function expectAllMembers(repo: AnnexRepo): Promise<void> {
  for (let i = 0; i < MEMBERS; i++) {
    expect((await readFile(join(repo.path, `out/m${i}.bin`))).equals(contents[i] as Buffer), `m${i}`).toBe(true);
  }
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('get -J4 of many members of one tar.gz', () => {
  for (const [mode, env] of [
    ['one remote process (ASYNC)', {}],
    ['one remote process per job (the lock between processes)', { ANNEXD_NO_ASYNC: '1' }],
  ] as const) {
    it(`fetches the archive once and decompresses it once: ${mode}`, async () => {
      const { repo, akey } = await manyMembers(`many-${Object.keys(env).length}`);
      expect(existsSync(join(repo.path, 'out/m0.bin'))).toBe(false);
      const before = web.gets('/many.tar.gz');
      const r = await repo.okEnv(env, 'git', 'annex', '--debug', 'get', '-J4', 'out');
      await expectAllMembers(repo);
      expect(web.gets('/many.tar.gz') - before).toBe(1);
      const log = r.stdout + r.stderr;
      expect(count(log, `DEBUG decompressing archive ${akey}`)).toBe(1);
      if (Object.keys(env).length > 0) {
        // Several remote processes really ran.
        expect(new Set(log.match(/git-annex-remote-annexd-archive\[\d+\]/g) ?? []).size).toBeGreaterThan(1);
      }
      expect(await readdir(cacheDir(repo))).toHaveLength(1);
    });
  }
});

describe('the cache', () => {
  it('streams members of an archive bigger than cachesize, links included, and caches nothing', async () => {
    const repo = await AnnexRepo.create(sandbox, 'small-cache');
    const big = randomBytes(300_000);
    await writeTree(join(sandbox.dir, 'src-big'), { 'b/first.bin': big, 'b/second.txt': 'second\n', 'b/alias': { link: 'second.txt' } });
    await makeArchive('tar.xz', join(sandbox.dir, 'src-big'), 'b', join(repo.path, 'b.tar.xz'));
    const akey = await annexArchive(repo, 'b.tar.xz');
    await initArchiveRemote(repo, 'arch', ['cachesize=100KiB']);
    await repo.ok('git', 'annex', 'addurl', '--file', 'first.bin', memberUrl(akey, 'b/first.bin', big.length));
    const r = await repo.ok('git', 'annex', 'addurl', '--file', 'alias.txt', memberUrl(akey, 'b/alias', 7));
    expect(r.stdout + r.stderr).toContain(`archive ${akey} expands to more than cachesize=100 KiB: each file is read from the start of the archive instead`);
    await repo.ok('git', 'annex', 'drop', 'first.bin', 'alias.txt');
    await repo.ok('git', 'annex', 'get', '-J2', 'first.bin', 'alias.txt');
    expect((await readFile(join(repo.path, 'first.bin'))).equals(big)).toBe(true);
    expect(await readFile(join(repo.path, 'alias.txt'), 'utf8')).toBe('second\n');
    expect(await readdir(cacheDir(repo))).toEqual([]);
  });

  it('hands out cached members as hard links, and never a cache file changed through one', async () => {
    const repo = await AnnexRepo.create(sandbox, 'links');
    const content = randomBytes(50_000);
    await writeTree(join(sandbox.dir, 'src-links'), { 'l/data.bin': content });
    await makeArchive('tar.gz', join(sandbox.dir, 'src-links'), 'l', join(repo.path, 'l.tar.gz'));
    const akey = await annexArchive(repo, 'l.tar.gz');
    await initArchiveRemote(repo);
    await repo.ok('git', 'annex', 'addurl', '--file', 'data.bin', memberUrl(akey, 'l/data.bin', content.length));
    const object = join(repo.path, (await repo.ok('git', 'annex', 'contentlocation', await repo.key('data.bin'))).stdout.trim());
    expect((await stat(object)).nlink).toBe(2); // the annex object and the cache file: no second copy
    // What an edit of an unlocked file with annex.thin would do to the shared inode.
    await chmod(join(object, '..'), 0o755);
    await chmod(object, 0o644);
    await writeFile(object, randomBytes(content.length));
    await repo.ok('git', 'annex', 'drop', '--force', 'data.bin');
    const get = await repo.ok('git', 'annex', '--debug', 'get', 'data.bin');
    expect(count(get.stdout + get.stderr, `DEBUG decompressing archive ${akey}`)).toBe(1);
    expect((await readFile(join(repo.path, 'data.bin'))).equals(content)).toBe(true);
  });

  it('keeps within cachesize (least recently used out) and removes what is older than cacheage', async () => {
    const repo = await AnnexRepo.create(sandbox, 'lru');
    const keys: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      await writeTree(join(sandbox.dir, `src-${name}`), { [`${name}/data.bin`]: randomBytes(400_000) });
      await makeArchive('tar.gz', join(sandbox.dir, `src-${name}`), name, join(repo.path, `${name}.tar.gz`));
      keys.push(await annexArchive(repo, `${name}.tar.gz`));
    }
    await initArchiveRemote(repo, 'arch', ['cachesize=1MiB']);
    const entries = async (): Promise<number> => (await readdir(cacheDir(repo))).length;
    await repo.ok('git', 'annex', 'addurl', '--file', 'a.bin', memberUrl(keys[0] as string, 'a/data.bin', 400_000));
    await repo.ok('git', 'annex', 'addurl', '--file', 'b.bin', memberUrl(keys[1] as string, 'b/data.bin', 400_000));
    expect(await entries()).toBe(2);
    // A third archive does not fit beside the other two: the least recently used (a) goes.
    await repo.ok('git', 'annex', 'addurl', '--file', 'c.bin', memberUrl(keys[2] as string, 'c/data.bin', 400_000));
    expect(await entries()).toBe(2);
    await repo.ok('git', 'annex', 'drop', 'a.bin', 'b.bin', 'c.bin');
    const dbg = await repo.ok('git', 'annex', '--debug', 'get', 'b.bin', 'c.bin');
    expect(count(dbg.stdout + dbg.stderr, 'DEBUG decompressing archive')).toBe(0);
    const again = await repo.ok('git', 'annex', '--debug', 'get', 'a.bin');
    expect(count(again.stdout + again.stderr, `DEBUG decompressing archive ${keys[0]}`)).toBe(1);

    // Age: make every entry look unused for 8 days; the next archive added sweeps them (cacheage=7d).
    await repo.ok('git', 'annex', 'enableremote', 'arch', 'cachesize=10GiB');
    const old = new Date(Date.now() - 8 * 86400 * 1000);
    for (const e of await readdir(cacheDir(repo))) await utimes(join(cacheDir(repo), e, 'index.json'), old, old);
    await repo.ok('git', 'annex', 'drop', 'c.bin');
    await repo.ok('git', 'annex', 'get', 'c.bin');
    expect(await entries()).toBe(1);
  });
});

/** Real git-annex copy/drop/get/fsck through annexd-webdav, -J8 served by one process. */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { through, withFaultProxy } from '../support/fault-proxy.js';
import { DAV_KINDS, initDavRemote, useDavSuite } from '../support/webdav.js';
import { listFiles } from './files.js';

describe.each(DAV_KINDS)('annexd-webdav on %s with real git-annex', (kind) => {
  const suite = useDavSuite(kind);

  it('serves copy -J8 of 30 files from one remote process, in hash directories', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'jobs');
    const url = await initDavRemote(repo, suite.dav, 'jobs');
    const files: Record<string, Buffer> = { 'empty.dat': Buffer.alloc(0), 'big.bin': randomBytes(3 * 1024 * 1024 + 17) };
    for (let i = 0; i < 28; i++) files[`f/naïve ${i}.bin`] = randomBytes(2000 + i);
    for (const [name, content] of Object.entries(files)) await repo.write(name, content);
    await repo.commitAll();

    const copy = await repo.ok('git', 'annex', '--debug', 'copy', '-J8', '--to', 'jobs', '.');
    const out = copy.stdout + copy.stderr;
    // git-annex --debug logs every process it starts.
    const started = out.split('\n').filter((l) => /process \[\d+\].*git-annex-remote-annexd-webdav/.test(l));
    expect(started, out.slice(0, 2000)).toHaveLength(1);
    // The hash directories are computed, not asked of git-annex key by key.
    expect(out).not.toMatch(/DIRHASH/);

    // Layout: <url>/<DIRHASH-LOWER><key>, and no temporary uploads left behind.
    const stored = await listFiles(join(suite.dav.root, basename(url)));
    expect(stored).toHaveLength(30);
    const where = (await repo.ok('git', 'annex', 'examinekey', '--format=${hashdirlower}${key}\n', await repo.key('big.bin'))).stdout.trim();
    expect(stored).toContain(where);

    await repo.ok('git', 'annex', 'drop', '.');
    await repo.ok('git', 'annex', 'get', '-J8', '.');
    for (const [name, content] of Object.entries(files)) {
      expect((await readFile(join(repo.path, name))).equals(content), `${name} round trip`).toBe(true);
    }
    await repo.ok('git', 'annex', 'fsck', '--from', 'jobs', '.');
    await repo.ok('git', 'annex', 'drop', '--from', 'jobs', '.');
    expect(await listFiles(join(suite.dav.root, basename(url)))).toEqual([]);
  });
});

describe.each(DAV_KINDS)('requests per store on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('a small store is one PUT and one MOVE (plus MKCOLs of new directories); leftovers are looked for once per process', async () => {
    await withFaultProxy({ target: suite.dav.url }, async (proxy) => {
      const repo = await AnnexRepo.create(suite.sandbox, 'counted');
      await initDavRemote(repo, suite.dav, 'counted', [], through(proxy, suite.dav.collection('counted')));
      for (let i = 0; i < 12; i++) await repo.write(`s${i}.txt`, `small ${i}\n`);
      await repo.commitAll();
      const from = proxy.requests.length;
      await repo.ok('git', 'annex', 'copy', '-J4', '--to', 'counted', '.');
      const sent = proxy.requests.slice(from);
      const count = (method: string): number => sent.filter((r) => r.method === method).length;
      expect(count('PUT')).toBe(12);
      expect(count('MOVE')).toBe(12);
      expect(count('DELETE')).toBe(0);
      // At most the two hash levels of each key, and .annexd-tmp/ once.
      expect(count('MKCOL')).toBeLessThanOrEqual(2 * 12 + 1);
      // A presence check (Depth 0) per key, and one listing of .annexd-tmp/ for the whole run.
      expect(count('PROPFIND')).toBeLessThanOrEqual(12 + 1);
      expect(sent.filter((r) => r.method === 'PROPFIND' && r.path.includes('/.annexd-tmp/'))).toHaveLength(1);
    });
  });
});

describe.each(DAV_KINDS)('connections per store on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('small stores keep their kept-alive connections: 80 files, -J4, open no more than the pool holds (16)', async () => {
    await withFaultProxy({ target: suite.dav.url }, async (proxy) => {
      const repo = await AnnexRepo.create(suite.sandbox, 'conns');
      await initDavRemote(repo, suite.dav, 'conns', [], through(proxy, suite.dav.collection('conns')));
      for (let i = 0; i < 80; i++) await repo.write(`c${i}.txt`, randomBytes(4096));
      await repo.commitAll();
      const before = proxy.connections;
      await repo.ok('git', 'annex', 'copy', '-J4', '--to', 'conns', '.');
      // One process's pool holds 16 kept-alive connections. A small body sent as a stream lost its
      // connection to undici's "reset" whenever the answer beat the stream's end: on loopback a third
      // of the PUTs, 58-76 connections for 200 files.
      expect(proxy.connections - before).toBeLessThanOrEqual(16);
    });
  });
});

describe.each(DAV_KINDS)('round trips per store on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('the key\'s new hash directories are made while the body goes up: the PUT leaves before the second MKCOL', async () => {
    // 20 ms each way: each MKCOL waits for the answer to the one above it.
    await withFaultProxy({ target: suite.dav.url, latencyMs: 20 }, async (proxy) => {
      const repo = await AnnexRepo.create(suite.sandbox, 'overlap');
      await initDavRemote(repo, suite.dav, 'overlap', [], through(proxy, suite.dav.collection('overlap')));
      const names = ['first.txt', 'second-a.txt', 'second-b.txt'];
      for (const n of names) await repo.write(n, `${n}\n`);
      await repo.commitAll();
      const dirsOf = async (n: string): Promise<string> =>
        (await repo.ok('git', 'annex', 'examinekey', '--format=${hashdirlower}', await repo.key(n))).stdout.trim();
      // A file whose top hash directory is new too (the two candidates both sharing first.txt's: 1 in 16 million).
      const firstTop = (await dirsOf('first.txt')).split('/')[0];
      let second = names[1] as string;
      if ((await dirsOf(second)).split('/')[0] === firstTop) second = names[2] as string;
      const dirs = await dirsOf(second);
      // One process for both, one after the other: the second store finds .annexd-tmp/ made.
      const from = proxy.requests.length;
      await repo.ok('git', 'annex', 'copy', '--to', 'overlap', 'first.txt', second);
      const all = proxy.requests.slice(from).map((r) => `${r.method} ${decodeURIComponent(r.path)}`);
      const sent = all.slice(all.findIndex((l) => l.startsWith('MOVE ')) + 1);
      const put = sent.findIndex((l) => l.startsWith('PUT ') && l.includes('/.annexd-tmp/'));
      const mkcolTop = sent.findIndex((l) => l.startsWith('MKCOL ') && l.endsWith(`/${dirs.split('/')[0]}/`));
      const mkcolLeaf = sent.findIndex((l) => l.startsWith('MKCOL ') && l.endsWith(`/${dirs}`));
      const move = sent.findIndex((l) => l.startsWith('MOVE '));
      expect(mkcolTop, sent.join('\n')).toBeGreaterThanOrEqual(0);
      expect(put, sent.join('\n')).toBeGreaterThanOrEqual(0);
      expect(put, sent.join('\n')).toBeLessThan(mkcolLeaf);
      expect(mkcolLeaf, sent.join('\n')).toBeLessThan(move);
      await repo.ok('git', 'annex', 'fsck', '--from', 'overlap', second);
    });
  });
});

describe.each(DAV_KINDS)('leftover temporary uploads on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('the first store deletes old leftovers of annexd in .annexd-tmp/, and keeps young ones and other names', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'sweeper');
    const url = await initDavRemote(repo, suite.dav, 'sweep');
    await repo.write('first.txt', 'makes .annexd-tmp/\n');
    await repo.commitAll();
    await repo.ok('git', 'annex', 'copy', '--to', 'sweep', 'first.txt');
    const tmpDir = join(suite.dav.root, basename(url), '.annexd-tmp');
    // As the server sees them: written by an earlier, killed run (old), by a live upload (young), or by someone else.
    const hoursAgo = new Date(Date.now() - 3 * 3600_000);
    const files = { old: '00112233445566aa', young: '00112233445566bb', foreign: 'notes-of-someone.txt' };
    for (const name of Object.values(files)) await writeFile(join(tmpDir, name), randomBytes(1000));
    for (const name of [files.old, files.foreign]) await utimes(join(tmpDir, name), hoursAgo, hoursAgo);

    await repo.write('second.txt', 'the next run\n');
    await repo.commitAll();
    const copy = await repo.ok('git', 'annex', '--debug', 'copy', '--to', 'sweep', 'second.txt');
    expect(copy.stdout + copy.stderr).toContain(`deleted .annexd-tmp/${files.old}, a temporary upload an earlier run left behind`);
    expect((await readdir(tmpDir)).sort()).toEqual([files.young, files.foreign].sort());
    await repo.ok('git', 'annex', 'fsck', '--from', 'sweep', '.');
  });
});

describe.each(DAV_KINDS)('a key locked by another client on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('drop --from says the file is locked (HTTP 423) and to try again later', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'locked');
    const url = await initDavRemote(repo, suite.dav, 'lk');
    await repo.write('l.txt', 'locked\n');
    await repo.commitAll();
    await repo.ok('git', 'annex', 'copy', '--to', 'lk', 'l.txt');
    const where = (await repo.ok('git', 'annex', 'examinekey', '--format=${hashdirlower}${key}', await repo.key('l.txt'))).stdout.trim();
    const lock = await fetch(`${url}/${where}`, {
      method: 'LOCK',
      headers: {
        authorization: `Basic ${Buffer.from(`u:${suite.dav.password}`).toString('base64')}`,
        'content-type': 'application/xml',
        timeout: 'Second-600',
      },
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>another client</D:owner></D:lockinfo>',
    });
    expect(lock.status, await lock.text()).toBe(200);
    const r = await repo.run('git', ['annex', 'drop', '--from', 'lk', 'l.txt']);
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toMatch(/remove failed: http:\/\/\S+ is locked on the server \(HTTP 423\), by another client or an upload still in progress; try again later/);
  });
});

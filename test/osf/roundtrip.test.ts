/**
 * annexd-osf driven by real git-annex against the OSF-compatible server:
 * copy/drop/get/fsck with -J4, the flat layout, one listing per process that
 * follows links.next, re-uploads through the file's own link, and the size cap.
 */
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

const isListing = (path: string): boolean => /\/files\/osfstorage\/\?/.test(path) && !path.includes('filter');

describe('annexd-osf round trips', () => {
  const suite = useOsfSuite();
  let repo: AnnexRepo;

  beforeAll(async () => {
    repo = await AnnexRepo.create(suite.sandbox);
  });

  it('copies 150 files with -J4 as flat files named by their keys, then drops, gets back and fscks them; each process lists once, following links.next', async () => {
    // requestrate high: this test is about the data, not the budget.
    const node = await initOsfRemote(repo, suite.osf, 'osf', ['requestrate=100']);
    for (let i = 0; i < 150; i++) await repo.write(`f/${i}.txt`, `file ${i} ${randomBytes(8).toString('hex')}\n`);
    await repo.write('big.bin', randomBytes(3 * 1024 * 1024 + 17));
    await repo.write('empty', '');
    await repo.commitAll();
    const keys = (await repo.ok('git', 'annex', 'find', '--format=${key}\\n')).stdout.trim().split('\n').sort();
    expect(keys).toHaveLength(152);

    const before = (await suite.osf.stats()).requests.length;
    await repo.ok('git', 'annex', 'copy', '-J4', '--to', 'osf', '.');
    const copyRequests = (await suite.osf.stats()).requests.slice(before);
    expect(await suite.osf.rootNames(node)).toEqual(keys);
    // One listing (one page: the root was empty), every PUT a new file at the root link, no folders.
    expect(copyRequests.filter((r) => isListing(r.path))).toHaveLength(1);
    expect(copyRequests.filter((r) => r.method === 'PUT')).toHaveLength(152);
    expect(copyRequests.filter((r) => r.path.includes('kind=folder'))).toEqual([]);

    await repo.ok('git', 'annex', 'drop', '-J4', '.');
    const beforeGet = (await suite.osf.stats()).requests.length;
    await repo.ok('git', 'annex', 'get', '-J4', '.');
    const getRequests = (await suite.osf.stats()).requests.slice(beforeGet);
    // A new process: 152 files are two pages of 100; without following links.next, 52 would be missing.
    expect(getRequests.filter((r) => isListing(r.path)).map((r) => new URL(r.path, 'http://x').searchParams.get('page'))).toEqual([null, '2']);
    expect(getRequests.every((r) => !isListing(r.path) || r.path.includes('page%5Bsize%5D=100') || r.path.includes('page[size]=100'))).toBe(true);
    const fsck = await repo.ok('git', 'annex', 'fsck', '-J4', '--from', 'osf');
    expect(fsck.stdout).not.toMatch(/failed|missing/i);
    const fast = await repo.ok('git', 'annex', 'fsck', '--fast', '--from', 'osf', '--json');
    expect(fast.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { success: boolean }).success)).toEqual(keys.map(() => true));

    await repo.ok('git', 'annex', 'drop', '-J4', '--from', 'osf', 'f');
    expect(await suite.osf.rootNames(node)).toEqual([await repo.key('big.bin'), await repo.key('empty')].sort());
  });

  it('finds a key another repository stored, and sends nothing for it', async () => {
    const r = await AnnexRepo.create(suite.sandbox, 'update');
    const node = await initOsfRemote(r, suite.osf, 'upd', ['requestrate=100']);
    await r.write('a.txt', 'same content\n');
    await r.commitAll();
    const key = await r.key('a.txt');
    await r.ok('git', 'annex', 'copy', '--to', 'upd', 'a.txt');
    // Another repository with a remote on the same node: its listing shows the key.
    const other = await AnnexRepo.create(suite.sandbox, 'update2');
    await initOsfRemote(other, suite.osf, 'upd', ['requestrate=100'], node);
    await other.write('a.txt', 'same content\n');
    await other.commitAll();
    const before = (await suite.osf.stats()).requests.length;
    // The listing of this process knows the file is there: nothing to send.
    await other.ok('git', 'annex', 'copy', '--to', 'upd', 'a.txt');
    const reqs = (await suite.osf.stats()).requests.slice(before);
    expect(reqs.filter((q) => isListing(q.path))).toHaveLength(1);
    expect(reqs.filter((q) => q.method === 'PUT')).toEqual([]);
    expect((await other.ok('git', 'annex', 'whereis', '--json', 'a.txt')).stdout).toMatch(/"description":"\[upd\]"/);
    expect(await suite.osf.rootNames(node)).toEqual([key]);
  });

  it('resumes a partial download with a Range request', async () => {
    const r = await AnnexRepo.create(suite.sandbox, 'resume');
    await initOsfRemote(r, suite.osf, 'res');
    const content = randomBytes(2 * 1024 * 1024);
    await r.write('r.bin', content);
    await r.commitAll();
    const key = await r.key('r.bin');
    await r.ok('git', 'annex', 'copy', '--to', 'res', 'r.bin');
    await r.ok('git', 'annex', 'drop', 'r.bin');
    // What an interrupted get leaves: the first part, in git-annex's tmp directory.
    await mkdir(join(r.path, '.git', 'annex', 'tmp'), { recursive: true });
    await writeFile(join(r.path, '.git', 'annex', 'tmp', key), content.subarray(0, 1024 * 1024 + 5));
    const before = (await suite.osf.stats()).requests.length;
    await r.ok('git', 'annex', 'get', '--from', 'res', 'r.bin');
    const gets = (await suite.osf.stats()).requests.slice(before).filter((q) => q.method === 'GET' && q.path.startsWith('/v1/'));
    expect(gets.map((q) => q.status)).toEqual([206]);
    expect((await readFile(join(r.path, 'r.bin'))).equals(content)).toBe(true);
  });

  it('refuses a key over OSF\'s 5 GB per-file cap before sending anything, naming chunk=', async () => {
    const r = await AnnexRepo.create(suite.sandbox, 'cap');
    const node = await initOsfRemote(r, suite.osf, 'cap');
    // Sparse, and WORM: nothing reads the 5 GB.
    const p = await r.write('huge.bin', '');
    await truncate(p, 5 * 1000 ** 3 + 1);
    await r.ok('git', 'annex', 'add', '--backend=WORM', 'huge.bin');
    await r.ok('git', 'commit', '-q', '-m', 'huge');
    const before = (await suite.osf.stats()).requests.length;
    const res = await r.annex('copy', '--to', 'cap', 'huge.bin');
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/over OSF's per-file limit of 4\.66 GiB; nothing was sent: store such files in chunks, e\.g\. git annex enableremote REMOTE chunk=1GiB/);
    const reqs = (await suite.osf.stats()).requests.slice(before);
    expect(reqs.filter((q) => q.method === 'PUT')).toEqual([]);
    expect(await suite.osf.rootNames(node)).toEqual([]);
  });
});

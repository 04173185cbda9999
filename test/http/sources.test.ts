/**
 * annexd-http with real git-annex against a real web server (lighttpd) and a
 * deliberately odd one: addurl, drop, get, fsck, redirects, resume, file names.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initHttpRemote } from '../support/http-remote.js';
import { useWebSources } from '../support/http-sources.js';

describe('annexd-http against real web servers', () => {
  const suite = useWebSources();

  it('adds URLs, then drops, gets and fscks them through the remote', async () => {
    const { sources } = suite;
    const big = randomBytes(3 * 1024 * 1024 + 5);
    await sources.put('files/big.bin', big);
    await sources.put('files/dir/small.txt', 'small\n');
    const repo = await AnnexRepo.create(suite.sandbox, 'basic');
    await initHttpRemote(repo, 'src');

    await repo.ok('git', 'annex', 'addurl', '--file', 'big.bin', `${sources.web}/files/big.bin`);
    await repo.ok('git', 'annex', 'addurl', `${sources.web}/files/dir/small.txt`);
    const whereis = (await repo.ok('git', 'annex', 'whereis', 'big.bin')).stdout;
    expect(whereis).toContain('[src]');
    expect(whereis).not.toContain('[web]');

    await repo.ok('git', 'annex', 'drop', '.');
    await repo.ok('git', 'annex', 'get', '-J2', '.');
    expect((await readFile(join(repo.path, 'big.bin'))).equals(big)).toBe(true);
    await repo.ok('git', 'annex', 'fsck', '--from', 'src', '.');
  });

  it('names files from Content-Disposition, else from the URL path', async () => {
    const { sources } = suite;
    await sources.put('files/report.bin', randomBytes(1000));
    const repo = await AnnexRepo.create(suite.sandbox, 'names');
    await initHttpRemote(repo, 'src');
    await repo.ok('git', 'annex', 'addurl', `${sources.odd}/download/report.bin`);
    await repo.ok('git', 'annex', 'addurl', `${sources.web}/files/report.bin`);
    const files = (await repo.ok('git', '-c', 'core.quotepath=off', 'ls-files')).stdout.split('\n').filter(Boolean).sort();
    // The extended (UTF-8) name wins over the plain one, as RFC 6266 says.
    expect(files).toEqual(['report.bin', 'résumé.csv']);
  });

  it('follows redirect chains, and names a redirect loop', async () => {
    const { sources } = suite;
    const content = randomBytes(5000);
    await sources.put('files/moved.bin', content);
    const repo = await AnnexRepo.create(suite.sandbox, 'redirects');
    await initHttpRemote(repo, 'src');
    await repo.ok('git', 'annex', 'addurl', '--file', 'moved.bin', `${sources.web}/hop/moved.bin`);
    await repo.ok('git', 'annex', 'drop', 'moved.bin');
    await repo.ok('git', 'annex', 'get', 'moved.bin');
    expect((await readFile(join(repo.path, 'moved.bin'))).equals(content)).toBe(true);

    const loop = await repo.annex('addurl', '--file', 'loop.bin', `${sources.web}/loop/a`);
    expect(loop.code).not.toBe(0);
    expect(loop.stdout + loop.stderr).toContain(`redirect loop: ${sources.web}/loop/a -> ${sources.web}/loop/b -> ${sources.web}/loop/a`);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const { sources } = suite;
    const content = randomBytes(2 * 1024 * 1024);
    await sources.put('files/resume.bin', content);
    const repo = await AnnexRepo.create(suite.sandbox, 'resume');
    await initHttpRemote(repo, 'src');
    await repo.ok('git', 'annex', 'addurl', '--file', 'resume.bin', `${sources.web}/files/resume.bin`);
    const key = await repo.key('resume.bin');
    await repo.ok('git', 'annex', 'drop', 'resume.bin');
    // What an interrupted get leaves behind: the first part of the content in annex/tmp.
    await repo.write(join('.git', 'annex', 'tmp', key), content.subarray(0, 700_000));
    const get = await repo.ok('git', 'annex', '--debug', 'get', 'resume.bin');
    expect((await readFile(join(repo.path, 'resume.bin'))).equals(content)).toBe(true);
    expect(get.stderr).toContain(`resuming ${sources.web}/files/resume.bin from byte 700000`);
  });

  it('checks presence with a ranged GET when a server refuses HEAD, and treats 410 as absent', async () => {
    const { sources } = suite;
    await sources.put('files/nohead.bin', randomBytes(4321));
    const repo = await AnnexRepo.create(suite.sandbox, 'nohead');
    await initHttpRemote(repo, 'src');
    await repo.ok('git', 'annex', 'addurl', '--file', 'nohead.bin', `${sources.odd}/nohead/nohead.bin`);
    const key = await repo.key('nohead.bin');
    await repo.ok('git', 'annex', 'checkpresentkey', key, 'src');
    await repo.ok('git', 'annex', 'fsck', '--from', 'src', 'nohead.bin');
    // A server that also ignores Range answers the probe with the whole file: still present, and fast.
    await sources.put('files/full.bin', randomBytes(3 * 1024 * 1024));
    await repo.ok('git', 'annex', 'addurl', '--file', 'full.bin', `${sources.odd}/nohead-norange/full.bin`);
    await repo.ok('git', 'annex', 'checkpresentkey', await repo.key('full.bin'), 'src');

    // Record a URL that is gone for another key: CHECKPRESENT answers "absent", not "unknown".
    await repo.write('other.txt', 'other');
    await repo.commitAll();
    const other = await repo.key('other.txt');
    await repo.ok('git', 'annex', 'registerurl', other, `${sources.odd}/gone/other.txt`);
    const r = await repo.annex('checkpresentkey', other, 'src');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toMatch(/unable to check|error/i);
  });
});

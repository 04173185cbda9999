/**
 * Export trees through annexd-s3. git-annex 10.20230126's testremote never sends
 * export requests to external remotes, so this drives `git annex export` itself.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();

describe('exporttree=yes', () => {
  it('exports a tree, follows renames and removals, and gets files back from the export', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'exporter');
    const bucket = await initS3Remote(repo, suite.s3, 'tree', ['exporttree=yes', 'prefix=site/']);
    const content = {
      'README.md': Buffer.from('# dataset\n'),
      'raw/sub 1/scan ü.bin': randomBytes(50_000),
      'raw/sub 1/notes.txt': Buffer.from('notes\n'),
      'derived/table.csv': Buffer.from('a,b\n1,2\n'),
    };
    for (const [name, c] of Object.entries(content)) await repo.write(name, c);
    await repo.commitAll();
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'tree');
    expect(await suite.s3.list(bucket)).toEqual([
      'site/README.md',
      'site/derived/table.csv',
      'site/raw/sub 1/notes.txt',
      'site/raw/sub 1/scan ü.bin',
    ]);

    // Rename a file, delete a whole directory, change one file's content.
    await rename(join(repo.path, 'README.md'), join(repo.path, 'README-renamed.md'));
    await rm(join(repo.path, 'derived'), { recursive: true });
    await repo.ok('git', 'annex', 'unlock', 'raw/sub 1/notes.txt');
    await repo.write('raw/sub 1/notes.txt', 'notes, revised\n');
    await repo.ok('git', 'add', '-A');
    await repo.ok('git', 'commit', '-q', '-m', 'reshape');
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'tree');
    expect(await suite.s3.list(bucket)).toEqual(['site/README-renamed.md', 'site/raw/sub 1/notes.txt', 'site/raw/sub 1/scan ü.bin']);

    // Drop local copies and get them back from the export.
    await repo.ok('git', 'annex', 'drop', '--force', 'README-renamed.md', 'raw');
    await repo.ok('git', 'annex', 'get', '--from', 'tree', '.');
    expect(await readFile(join(repo.path, 'README-renamed.md'), 'utf8')).toBe('# dataset\n');
    expect((await readFile(join(repo.path, 'raw/sub 1/scan ü.bin'))).equals(content['raw/sub 1/scan ü.bin'])).toBe(true);
    expect(await readFile(join(repo.path, 'raw/sub 1/notes.txt'), 'utf8')).toBe('notes, revised\n');
    await repo.ok('git', 'annex', 'fsck', '--from', 'tree', '.');

    // Exporting an empty tree removes everything, including already-removed directories.
    await repo.ok('git', 'rm', '-q', '-r', '.');
    await repo.ok('git', 'commit', '-q', '-m', 'empty');
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'tree');
    expect(await suite.s3.list(bucket)).toEqual([]);
  });
});

describe('publicurl and readonly clones', () => {
  it('records public URLs so a clone with readonly=true downloads over plain HTTP', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'publisher');
    const bucket = suite.s3.bucket('public');
    const publicurl = `${suite.s3.endpoint}/${bucket}`;
    await initS3Remote(repo, suite.s3, 'pub', [`publicurl=${publicurl}`], bucket);
    await repo.write('shared/data.txt', 'open data\n');
    await repo.commitAll();
    await repo.ok('git', 'annex', 'copy', '--to', 'pub', '.');
    const key = await repo.key('shared/data.txt');

    const where = await repo.ok('git', 'annex', 'whereis', 'shared/data.txt');
    expect(where.stdout).toContain(`${publicurl}/${key}`);
    const info = await repo.ok('git', 'annex', 'info', 'pub');
    expect(info.stdout).toMatch(/public url: http:\/\/127\.0\.0\.1/);

    // A clone without credentials or annexd on PATH still gets the content.
    const clone = await AnnexRepo.clone(suite.sandbox, repo, 'reader');
    await clone.ok('git', 'annex', 'enableremote', 'pub', 'readonly=true');
    const r = await clone.run('git', ['annex', 'get', 'shared/data.txt'], { PATH: '/usr/bin:/bin' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readFile(join(clone.path, 'shared/data.txt'), 'utf8')).toBe('open data\n');

    // Removing the content forgets the URL.
    await repo.ok('git', 'annex', 'drop', '--from', 'pub', 'shared/data.txt');
    const after = await repo.ok('git', 'annex', 'whereis', 'shared/data.txt');
    expect(after.stdout).not.toContain(`${publicurl}/${key}`);
  });
});

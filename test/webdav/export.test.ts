/**
 * Export trees through annexd-webdav. git-annex 10.20230126's testremote never sends
 * export requests to external remotes, so this drives `git annex export` itself.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { DAV_KINDS, initDavRemote, useDavSuite } from '../support/webdav.js';
import { listFiles } from './files.js';

describe.each(DAV_KINDS)('exporttree=yes on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('exports a tree, follows renames and removals, and gets files back from the export', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'exporter');
    const url = await initDavRemote(repo, suite.dav, 'tree', ['exporttree=yes']);
    const onDisk = join(suite.dav.root, basename(url));
    const content = {
      'README.md': Buffer.from('# dataset\n'),
      'raw/sub 1/scan ü.bin': randomBytes(50_000),
      'raw/sub 1/notes.txt': Buffer.from('notes\n'),
      'derived/table.csv': Buffer.from('a,b\n1,2\n'),
      'derived/100% [x] #1.txt': Buffer.from('odd characters\n'),
    };
    for (const [name, c] of Object.entries(content)) await repo.write(name, c);
    await repo.commitAll();
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'tree');
    expect(await listFiles(onDisk)).toEqual([
      'README.md',
      'derived/100% [x] #1.txt',
      'derived/table.csv',
      'raw/sub 1/notes.txt',
      'raw/sub 1/scan ü.bin',
    ]);
    expect((await readFile(join(onDisk, 'raw/sub 1/scan ü.bin'))).equals(content['raw/sub 1/scan ü.bin'])).toBe(true);

    // Rename a file, delete a whole directory, change one file's content.
    await rename(join(repo.path, 'README.md'), join(repo.path, 'README-renamed.md'));
    await rm(join(repo.path, 'derived'), { recursive: true });
    await repo.ok('git', 'annex', 'unlock', 'raw/sub 1/notes.txt');
    await repo.write('raw/sub 1/notes.txt', 'notes, revised\n');
    await repo.ok('git', 'add', '-A');
    await repo.ok('git', 'commit', '-q', '-m', 'reshape');
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'tree');
    expect(await listFiles(onDisk)).toEqual(['README-renamed.md', 'raw/sub 1/notes.txt', 'raw/sub 1/scan ü.bin']);
    // The removed directory is gone as a collection too.
    expect(existsSync(join(onDisk, 'derived'))).toBe(false);

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
    expect(await listFiles(onDisk)).toEqual([]);
  });
});

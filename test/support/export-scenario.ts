/**
 * The export round trip every writable backend must pass. git-annex
 * 10.20230126's testremote never sends export requests to external remotes,
 * so this drives `git annex export` itself: export a tree, then rename a file,
 * delete a directory and change a file's content, export again, drop and get
 * everything back from the export, fsck, and finally export an empty tree.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { AnnexRepo } from './annex.js';

export interface ExportScenario {
  repo: AnnexRepo;
  /** An exporttree=yes remote already set up in repo. */
  remote: string;
  /** The exported paths as the server holds them, relative to the export's root, sorted. */
  listExported(): Promise<string[]>;
  /** Backend-specific checks after the first export (e.g. bytes on the server). */
  afterFirstExport?(content: Record<string, Buffer>): Promise<void>;
  /** Backend-specific checks after the reshaped tree was exported. */
  afterReshape?(): Promise<void>;
}

export async function exportRoundTrip(s: ExportScenario): Promise<void> {
  const { repo, remote } = s;
  const content: Record<string, Buffer> = {
    'README.md': Buffer.from('# dataset\n'),
    'raw/sub 1/scan ü.bin': randomBytes(50_000),
    'raw/sub 1/notes.txt': Buffer.from('notes\n'),
    'derived/table.csv': Buffer.from('a,b\n1,2\n'),
    'derived/100% [x] #1.txt': Buffer.from('odd characters\n'),
  };
  for (const [name, c] of Object.entries(content)) await repo.write(name, c);
  await repo.commitAll();
  await repo.ok('git', 'annex', 'export', 'main', '--to', remote);
  expect(await s.listExported()).toEqual([
    'README.md',
    'derived/100% [x] #1.txt',
    'derived/table.csv',
    'raw/sub 1/notes.txt',
    'raw/sub 1/scan ü.bin',
  ]);
  await s.afterFirstExport?.(content);

  // Rename a file, delete a whole directory, change one file's content.
  await rename(join(repo.path, 'README.md'), join(repo.path, 'README-renamed.md'));
  await rm(join(repo.path, 'derived'), { recursive: true });
  await repo.ok('git', 'annex', 'unlock', 'raw/sub 1/notes.txt');
  await repo.write('raw/sub 1/notes.txt', 'notes, revised\n');
  await repo.ok('git', 'add', '-A');
  await repo.ok('git', 'commit', '-q', '-m', 'reshape');
  await repo.ok('git', 'annex', 'export', 'main', '--to', remote);
  expect(await s.listExported()).toEqual(['README-renamed.md', 'raw/sub 1/notes.txt', 'raw/sub 1/scan ü.bin']);
  await s.afterReshape?.();

  // Drop local copies and get them back from the export.
  await repo.ok('git', 'annex', 'drop', '--force', 'README-renamed.md', 'raw');
  await repo.ok('git', 'annex', 'get', '--from', remote, '.');
  expect(await readFile(join(repo.path, 'README-renamed.md'), 'utf8')).toBe('# dataset\n');
  expect((await readFile(join(repo.path, 'raw/sub 1/scan ü.bin'))).equals(content['raw/sub 1/scan ü.bin'] as Buffer)).toBe(true);
  expect(await readFile(join(repo.path, 'raw/sub 1/notes.txt'), 'utf8')).toBe('notes, revised\n');
  await repo.ok('git', 'annex', 'fsck', '--from', remote, '.');

  // Exporting an empty tree removes everything, including already-removed directories.
  await repo.ok('git', 'rm', '-q', '-r', '.');
  await repo.ok('git', 'commit', '-q', '-m', 'empty');
  await repo.ok('git', 'annex', 'export', 'main', '--to', remote);
  expect(await s.listExported()).toEqual([]);
}

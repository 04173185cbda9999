/** Export trees through annexd-webdav on each server (the shared scenario, plus what the server holds on disk). */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { exportRoundTrip } from '../support/export-scenario.js';
import { DAV_KINDS, initDavRemote, useDavSuite } from '../support/webdav.js';
import { listFiles } from './files.js';

describe.each(DAV_KINDS)('exporttree=yes on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('exports a tree, follows renames and removals, and gets files back from the export', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'exporter');
    const url = await initDavRemote(repo, suite.dav, 'tree', ['exporttree=yes']);
    const onDisk = join(suite.dav.root, basename(url));
    await exportRoundTrip({
      repo,
      remote: 'tree',
      listExported: () => listFiles(onDisk),
      afterFirstExport: async (content) => {
        expect((await readFile(join(onDisk, 'raw/sub 1/scan ü.bin'))).equals(content['raw/sub 1/scan ü.bin'] as Buffer)).toBe(true);
      },
      // The removed directory is gone as a collection too.
      afterReshape: async () => expect(existsSync(join(onDisk, 'derived'))).toBe(false),
    });
  });
});

describe.each(DAV_KINDS)('export renames on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('renames into directories that do not exist yet with MOVE, never by uploading again', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'renamer');
    const url = await initDavRemote(repo, suite.dav, 'moves', ['exporttree=yes']);
    const onDisk = join(suite.dav.root, basename(url));
    const content = randomBytes(20_000);
    await repo.write('data.bin', content);
    await repo.write('keep/other.txt', 'other\n');
    await repo.commitAll();
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'moves');

    await mkdir(join(repo.path, 'new/deeper'), { recursive: true });
    await rename(join(repo.path, 'data.bin'), join(repo.path, 'new/deeper/data.bin'));
    await repo.ok('git', 'add', '-A');
    await repo.ok('git', 'commit', '-q', '-m', 'move into a new directory');
    const second = await repo.ok('git', 'annex', '--debug', 'export', 'main', '--to', 'moves');
    const protocol = second.stdout + second.stderr;
    // git-annex falls back to removing and uploading again when a rename fails.
    expect(protocol).toMatch(/RENAMEEXPORT-SUCCESS/);
    expect(protocol).not.toMatch(/RENAMEEXPORT-FAILURE/);
    expect(protocol).not.toMatch(/TRANSFEREXPORT STORE/);
    expect(await listFiles(onDisk)).toEqual(['keep/other.txt', 'new/deeper/data.bin']);
    expect((await readFile(join(onDisk, 'new/deeper/data.bin'))).equals(content)).toBe(true);
  });
});

/** Export trees through annexd-webdav on each server (the shared scenario, plus what the server holds on disk). */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
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

describe.each(DAV_KINDS)('export names annexd-webdav refuses on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('refuses ".." in an export name (git mktree allows it) instead of writing outside the collection', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'dotdot');
    const url = await initDavRemote(repo, suite.dav, 'up', ['exporttree=yes']);
    await repo.write('x.bin', randomBytes(1000));
    await repo.commitAll();
    // A tree holding ../x.bin: git's index never makes one, but a tree object can name it.
    const entry = (await repo.ok('git', 'ls-tree', 'HEAD', 'x.bin')).stdout.trim();
    const mktree = async (input: string): Promise<string> => {
      const r = await exec('git', ['mktree'], { cwd: repo.path, env: repo.env, input });
      if (r.code !== 0) throw new Error(`git mktree failed: ${r.stderr}`);
      return r.stdout.trim();
    };
    const outer = await mktree(`040000 tree ${await mktree(`${entry}\n`)}\t..\n`);
    const r = await repo.run('git', ['annex', 'export', outer, '--to', 'up']);
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toContain('cannot export "../x.bin": export names must not contain "." or ".." segments');
    // Nothing beside the collection on the server.
    expect(await listFiles(join(suite.dav.root))).not.toContain('x.bin');
    expect(await listFiles(join(suite.dav.root, basename(url)))).toEqual([]);
  });

  it('refuses to export files under .annexd-tmp/, where it keeps uploads in progress', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'reserved');
    const url = await initDavRemote(repo, suite.dav, 'res', ['exporttree=yes']);
    await repo.write('.annexd-tmp/0123456789abcdef', randomBytes(1000));
    await repo.write('ok.txt', 'fine\n');
    await repo.commitAll();
    const r = await repo.run('git', ['annex', 'export', 'main', '--to', 'res']);
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toContain('cannot export ".annexd-tmp/0123456789abcdef": annexd-webdav keeps uploads in progress in .annexd-tmp/');
    expect(await listFiles(join(suite.dav.root, basename(url)))).toEqual(['ok.txt']);
  });
});

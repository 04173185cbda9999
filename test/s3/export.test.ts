/** Export trees through annexd-s3 (the shared scenario), and public URLs for readonly clones. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { exportRoundTrip } from '../support/export-scenario.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();

describe('exporttree=yes', () => {
  it('exports a tree, follows renames and removals, and gets files back from the export', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'exporter');
    const bucket = await initS3Remote(repo, suite.s3, 'tree', ['exporttree=yes', 'prefix=site/']);
    await exportRoundTrip({
      repo,
      remote: 'tree',
      // Every object must sit under the prefix; the scenario compares paths below it.
      listExported: async () =>
        (await suite.s3.list(bucket)).map((k) => {
          if (!k.startsWith('site/')) throw new Error(`object outside the prefix: ${k}`);
          return k.slice('site/'.length);
        }),
    });
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

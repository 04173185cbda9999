/**
 * Export mode (exporttree=yes) on the OSF-compatible server: the shared
 * export round trip (folders, a rename, a directory removed, odd names, an
 * empty tree), with renames as WaterButler moves, never re-uploads, and a
 * directory removal that deletes exactly that folder.
 */
import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { exportRoundTrip } from '../support/export-scenario.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

describe('annexd-osf export trees', () => {
  const suite = useOsfSuite();

  it('exports, renames by moving, removes exactly the removed folder, and gets everything back', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'export');
    const node = await initOsfRemote(repo, suite.osf, 'osfx', ['exporttree=yes']);
    let before = 0;
    await exportRoundTrip({
      repo,
      remote: 'osfx',
      listExported: async () => (await suite.osf.tree(node)).filter((p) => !p.endsWith('/')),
      afterFirstExport: async () => {
        expect((await suite.osf.tree(node)).filter((p) => p.endsWith('/'))).toEqual(['derived/', 'raw/', 'raw/sub 1/']);
        before = (await suite.osf.stats()).requests.length;
      },
      afterReshape: async () => {
        const reqs = (await suite.osf.stats()).requests.slice(before);
        // README.md → README-renamed.md is moved (git-annex renames through a temporary name: two moves); the only upload is the changed notes.txt.
        expect(reqs.filter((r) => r.method === 'POST' && r.status < 300)).toHaveLength(2);
        expect(reqs.filter((r) => r.method === 'PUT' && r.status < 300)).toHaveLength(1);
        // derived/ went as one folder; raw/ (another top-level folder) stayed.
        expect((await suite.osf.tree(node)).filter((p) => p.endsWith('/'))).toEqual(['raw/', 'raw/sub 1/']);
      },
    });
    expect(await suite.osf.tree(node)).toEqual([]);
  });

  it('exports a name that is not UTF-8 under the reserved folder, and refuses names inside that folder, naming them', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'odd');
    const node = await initOsfRemote(repo, suite.osf, 'osfo', ['exporttree=yes']);
    await repo.write('ok.txt', 'fine\n');
    await repo.write('.annexd-non-utf8/taken.txt', 'a name in the reserved folder\n');
    await writeFile(Buffer.concat([Buffer.from(`${repo.path}/bad-`), Buffer.from([0xff]), Buffer.from('.txt')]), 'latin-1 name\n');
    await repo.commitAll();
    const r = await repo.run('git', ['annex', 'export', 'main', '--to', 'osfo']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/cannot export "\.annexd-non-utf8\/taken\.txt": annexd-osf keeps names that are not UTF-8 in \.annexd-non-utf8\//);
    expect(await suite.osf.tree(node)).toEqual(['.annexd-non-utf8/', '.annexd-non-utf8/bad-%FF.txt', 'ok.txt']);
  });
});

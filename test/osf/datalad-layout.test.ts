/**
 * A dataset laid out as datalad-osf lays it out, read through the drop-in
 * `git-annex-remote-osf` (externaltype=osf): keys uploaded flat at the
 * storage root the way osfclient uploads them (PUT ?name=KEY), a legacy git
 * deposit in /.git/, the remote set up with the command create-sibling-osf
 * runs. (api= points at the test server; datalad-osf has only osf.io.)
 */
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { useOsfSuite } from '../support/osf.js';

describe('a datalad-osf dataset through git-annex-remote-osf', () => {
  const suite = useOsfSuite();

  it('finds, drops against and gets every key; the legacy .git/refs and .git/repo.zip count as the XDLRA keys', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'dataset');
    const content: Record<string, string> = { 'a.txt': 'alpha\n', 'sub/b.csv': 'x,y\n1,2\n', 'c d.bin': 'gamma\n' };
    for (const [name, c] of Object.entries(content)) await repo.write(name, c);
    await repo.commitAll();
    const node = await suite.osf.createNode('my-dataset');
    for (const name of Object.keys(content)) await suite.osf.upload(node, await repo.key(name), content[name]!);
    await suite.osf.upload(node, '.git/refs', 'refs of a legacy deposit\n');
    await suite.osf.upload(node, '.git/repo.zip', 'PK legacy\n');

    // What create-sibling-osf runs (plus api= for the test server).
    await repo.okEnv(suite.osf.credsEnv, 'git', 'annex', 'initremote', 'osf-storage', 'type=external', 'externaltype=osf', 'encryption=none', 'autoenable=true', `node=${node}`, `api=${suite.osf.api}`);
    const fsck = await repo.ok('git', 'annex', 'fsck', '--fast', '--from', 'osf-storage');
    expect(fsck.stdout).not.toMatch(/failed/);
    await repo.ok('git', 'annex', 'drop', '.');
    await repo.ok('git', 'annex', 'get', '--from', 'osf-storage', '.');
    for (const [name, c] of Object.entries(content)) expect((await repo.ok('cat', name)).stdout).toBe(c);
    for (const key of ['XDLRA--refs', 'XDLRA--repo-export']) {
      const r = await repo.run('git', ['annex', 'checkpresentkey', key, 'osf-storage']);
      expect(r.code, `${key}: ${r.stderr}`).toBe(0);
    }
    expect((await repo.run('git', ['annex', 'checkpresentkey', 'XDLRA--other', 'osf-storage'])).code).toBe(1);
    // The alias is the remote git-annex ran, under datalad-osf's name.
    const info = await repo.ok('git', 'annex', 'info', 'osf-storage');
    expect(info.stdout).toMatch(/externaltype: osf\b/);
    expect(info.stdout).toMatch(new RegExp(`node: ${node}`));
  });

  it('accepts the legacy project= (an id or a URL ending in it)', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'legacy');
    await repo.write('x.txt', 'x\n');
    await repo.commitAll();
    const node = await suite.osf.createNode('legacy');
    await suite.osf.upload(node, await repo.key('x.txt'), 'x\n');
    await repo.okEnv(suite.osf.credsEnv, 'git', 'annex', 'initremote', 'old', 'type=external', 'externaltype=osf', 'encryption=none', `project=https://osf.io/${node}/`, `api=${suite.osf.api}`);
    await repo.ok('git', 'annex', 'fsck', '--fast', '--from', 'old');
    expect((await repo.ok('git', 'annex', 'whereis', 'x.txt')).stdout).toMatch(/\[old\]/);
  });
});

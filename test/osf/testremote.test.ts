/** git-annex's own conformance suite against annexd-osf on the OSF-compatible server. */
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, expectTestremotePasses, initExternalRemote } from '../support/annex.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

describe('git annex testremote on the OSF-compatible server', () => {
  const suite = useOsfSuite();
  let repo: AnnexRepo;

  beforeAll(async () => {
    repo = await AnnexRepo.create(suite.sandbox);
  });

  it('passes all 125 --fast checks (plain and encryption=shared variants), with keys flat at the storage root', async () => {
    const node = await initOsfRemote(repo, suite.osf, 'conform');
    // No OSF_TOKEN here: the remote must use what initremote remembered.
    await expectTestremotePasses(repo, 'conform', ['--fast'], 125);
    const { stats } = await suite.osf.stats();
    expect(stats.byStatus['201']).toBeGreaterThan(0);
    // testremote removes what it stored: nothing is left at the root, and nothing was ever put in a folder.
    expect(await suite.osf.rootNames(node)).toEqual([]);
  });

  it('passes them as the drop-in git-annex-remote-osf (externaltype=osf) too', async () => {
    const node = await suite.osf.createNode('alias');
    await initExternalRemote(repo, 'osf', 'alias', [`api=${suite.osf.api}`, `node=${node}`], suite.osf.credsEnv);
    await expectTestremotePasses(repo, 'alias', ['--fast'], 125);
  });
});

/** git-annex's own conformance suite against annexd-webdav on real WebDAV servers. */
import { beforeAll, describe, it } from 'vitest';
import { AnnexRepo, expectTestremotePasses } from '../support/annex.js';
import { DAV_KINDS, initDavRemote, useDavSuite } from '../support/webdav.js';

describe.each(DAV_KINDS)('git annex testremote on %s', (kind) => {
  const suite = useDavSuite(kind);
  let repo: AnnexRepo;

  beforeAll(async () => {
    repo = await AnnexRepo.create(suite.sandbox);
  });

  it('passes all 125 --fast checks (plain and encryption=shared variants)', async () => {
    await initDavRemote(repo, suite.dav, 'conform');
    // No WEBDAV_* variables here: the remote must use what initremote remembered.
    await expectTestremotePasses(repo, 'conform', ['--fast'], 125);
  });
});

/** git-annex's own conformance suite, read-only form, against lighttpd. */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { AnnexRepo, expectTestremotePasses } from '../support/annex.js';
import { initHttpRemote } from '../support/http-remote.js';
import { useWebSources } from '../support/http-sources.js';

describe('git annex testremote --test-readonly on annexd-http', () => {
  const suite = useWebSources();

  it('passes every check, for a large file and an empty one', async () => {
    const { sources } = suite;
    await sources.put('files/tr/large.bin', randomBytes(2 * 1024 * 1024 + 3));
    await sources.put('files/tr/empty.bin', Buffer.alloc(0));
    const repo = await AnnexRepo.create(suite.sandbox, 'testremote');
    await initHttpRemote(repo, 'src');
    await repo.ok('git', 'annex', 'addurl', '--file', 'large.bin', `${sources.web}/files/tr/large.bin`);
    await repo.ok('git', 'annex', 'addurl', '--file', 'empty.bin', `${sources.web}/files/tr/empty.bin`);
    await expectTestremotePasses(repo, 'src', ['--fast', '--test-readonly=large.bin', '--test-readonly=empty.bin']);
  });
});

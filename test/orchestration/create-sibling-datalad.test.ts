/**
 * Interop with Debian's real DataLad (0.18.1): datasets set up by `annexd
 * create-sibling-s3` and `annexd create-sibling-webdav` are pushed by
 * `datalad push --to NAME` (content to NAME-storage first, then the history
 * through git-remote-datalad-annex), and a clone of the git sibling's URL gets
 * the content.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { cloneAndGet, records } from '../support/create-sibling.js';
import { useStorageServers, whereis } from '../support/push.js';
import { BIN_DIR, requireTool } from '../support/tools.js';

const suite = useStorageServers();

async function dataset(name: string): Promise<AnnexRepo> {
  requireTool('datalad', 'apt-get install -y datalad');
  const repo = await AnnexRepo.create(suite.sandbox, name);
  await repo.write('data/one.txt', 'one\n');
  await repo.commitAll();
  return repo;
}

/** `datalad push --to NAME` (Debian's, #!/usr/bin/python3), with annexd's bin/ on PATH from the sandbox. */
async function dataladPush(repo: AnnexRepo, to: string, env: NodeJS.ProcessEnv): Promise<void> {
  const r = await repo.run('/usr/bin/datalad', ['-f', 'json', 'push', '--to', to], env);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const rs = records(r);
  expect(rs.map((x) => `${x.action} ${x.status}`).sort()).toEqual(['copy ok', 'publish ok', 'publish ok']);
  // The branch and the git-annex branch (which clones need to find the content), one record each.
  const published = rs.filter((x) => x.action === 'publish').map((x) => String(x.message).split(' ')[0]).sort();
  expect(published).toEqual([`refs/heads/git-annex->${to}:refs/heads/git-annex`, `refs/heads/main->${to}:refs/heads/main`]);
}

describe('create-sibling-s3 and -webdav, pushed by datalad push', () => {
  it('S3: datalad push --to NAME publishes content and history; the clone gets the content', async () => {
    const repo = await dataset('dl-s3');
    const made = await repo.run(join(BIN_DIR, 'annexd'), ['create-sibling-s3', 'pub', '--bucket', suite.s3.bucket('dl'), '--endpoint', suite.s3.endpoint, '--json'], suite.s3.credsEnv);
    expect(made.code, made.stderr).toBe(0);
    await dataladPush(repo, 'pub', suite.s3.credsEnv);
    expect(await whereis(repo, 'data/one.txt')).toEqual(['pub-storage']);
    const url = records(made)[1]!.url as string;
    expect(await cloneAndGet(suite.sandbox, url, 'dl-s3-clone', 'data/one.txt', suite.s3.credsEnv)).toBe('one\n');
  });

  it('WebDAV: datalad push --to NAME publishes content and history; the clone gets the content', async () => {
    const repo = await dataset('dl-dav');
    const made = await repo.run(join(BIN_DIR, 'annexd'), ['create-sibling-webdav', suite.dav.collection('dl'), '-s', 'dav', '--json'], suite.dav.credsEnv);
    expect(made.code, made.stderr).toBe(0);
    await dataladPush(repo, 'dav', suite.dav.credsEnv);
    expect(await whereis(repo, 'data/one.txt')).toEqual(['dav-storage']);
    const url = records(made)[1]!.url as string;
    expect(await cloneAndGet(suite.sandbox, url, 'dl-dav-clone', 'data/one.txt', suite.dav.credsEnv)).toBe('one\n');
  });
});

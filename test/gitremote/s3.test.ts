/** The helpers on the embedded S3 server (SigV4 checked), through annexd-s3. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useS3Suite } from '../support/s3.js';
import { closedPort } from '../support/servers.js';
import { expectOneLine, git } from './helpers.js';
import { cloneFetchPush, twoWriters, type Ctx } from './scenarios.js';

const suite = useS3Suite();
const ctx = (): Ctx => ({ dir: suite.sandbox.dir, env: { ...suite.sandbox.env, ...suite.s3.credsEnv } });
const url = (bucket: string): string =>
  `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=${suite.s3.bucket(bucket)}&endpoint=${suite.s3.endpoint}`;

describe('git-remote-datalad-annex on S3 (annexd-s3)', () => {
  it('first push, clone, second push, fetch, non-fast-forward refused, --force', async () => {
    const u = url('story');
    await cloneFetchPush(ctx(), u);
    const bucket = /bucket=([^&]+)/.exec(u)![1]!;
    const keys = await suite.s3.list(bucket);
    expect(keys).toContain('XDLRA--refs');
    expect(keys).toContain('XDLRA--repo-export');
    // the lease is released after every push
    expect(keys.filter((k) => k.includes('lease'))).toEqual([]);
  });

  it('two clones pushing at once: one wins, the other is refused, nothing is lost', async () => {
    await twoWriters(ctx(), url('race'));
  });

  it('unreachable storage: one line, no clone left', async () => {
    const port = await closedPort();
    const dest = join(suite.sandbox.dir, 'unreachable');
    const r = await git(
      { ...suite.sandbox, env: ctx().env },
      suite.sandbox.dir,
      'clone',
      `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=nope&endpoint=http://127.0.0.1:${port}`,
      dest,
    );
    expectOneLine(r, 'git-remote-datalad-annex', new RegExp(`127\\.0\\.0\\.1:${port}`));
  });
});

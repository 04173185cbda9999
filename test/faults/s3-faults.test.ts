/**
 * annexd-s3 through the fault proxy, in front of s3rver: copy, get and fsck of
 * 100 files survive cut connections (in both directions), stalls and
 * 429/503/500 answers with the default retries; multipart uploads survive cut
 * parts and a lost answer to their completion.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { withFaultProxy, type RequestInfo } from '../support/fault-proxy.js';
import { FAULT_RUN, faultyRoundTrip } from '../support/fault-scenario.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
const MiB = 1024 * 1024;

describe('annexd-s3 under faults', () => {
  it('copies, gets and fscks 100 files through cuts, stalls and 429/503/500 answers', async () => {
    await withFaultProxy({ target: suite.s3.endpoint, ...FAULT_RUN }, async (proxy) => {
      const repo = await AnnexRepo.create(suite.sandbox, 'faults');
      // Everything goes through the proxy, initremote's bucket check and creation included.
      const bucket = await initS3Remote(repo, { ...suite.s3, endpoint: proxy.url }, 'faulty');
      await faultyRoundTrip({ repo, remote: 'faulty', proxy, listStored: () => suite.s3.list(bucket) });
    });
  });

  it('completes multipart uploads through cut parts and lost answers to CompleteMultipartUpload', async () => {
    const plan = [
      { fault: 'cut-request' as const, match: (r: RequestInfo) => r.method === 'PUT' && /[?&]partNumber=/.test(r.path), every: 2, times: 3 },
      // The server completes the upload; only the answer is lost.
      { fault: 'cut-response' as const, match: (r: RequestInfo) => r.method === 'POST' && /[?&]uploadId=/.test(r.path), times: 2 },
    ];
    await withFaultProxy({ target: suite.s3.endpoint, plan }, async (proxy) => {
      const repo = await AnnexRepo.create(suite.sandbox, 'multipart');
      const bucket = await initS3Remote(repo, { ...suite.s3, endpoint: proxy.url }, 'parts', ['partsize=5MiB', 'multipartthreshold=5MiB']);
      for (const name of ['a.bin', 'b.bin']) await repo.write(name, randomBytes(12 * MiB));
      await repo.commitAll();
      const copy = await repo.ok('git', 'annex', 'copy', '-J2', '--to', 'parts', '.');
      // Absorbed by the remote's retries, not by git-annex trying the whole transfer again.
      expect(copy.stdout + copy.stderr).not.toMatch(/failed/);
      expect(proxy.injected).toMatchObject({ 'cut-request': 3, 'cut-response': 2 });
      expect(await suite.s3.list(bucket)).toEqual([await repo.key('a.bin'), await repo.key('b.bin')].sort());
      const uploads = join(suite.sandbox.dir, 's3-data', bucket, '._S3rver_uploads');
      expect(existsSync(uploads) ? readdirSync(uploads) : []).toEqual([]);
      await repo.ok('git', 'annex', 'fsck', '--from', 'parts', '.');
    });
  });
});

/**
 * annexd-s3 killed (SIGKILL, together with git-annex: no clean-up possible)
 * mid-upload, as a single PUT and as a multipart upload: no object may appear,
 * the key must not be reported present, and the next copy must succeed. (The
 * Ctrl-C case, where the remote aborts the upload itself, is interrupt.test.ts.)
 * A proxy holds the upload part way, so the kill reliably lands mid-upload.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { withFaultProxy, type RequestInfo } from '../support/fault-proxy.js';
import { killMidway } from '../support/kill.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
const MiB = 1024 * 1024;

interface Aftermath {
  key: string;
  /** Objects listed right after the kill. */
  listed: string[];
  /** Files of unfinished multipart uploads in s3rver's data directory. */
  uploads: string[];
}

/** Kills a copy of `size` bytes while `upload` requests are held at 1 MiB; checks what follows. */
async function killedUpload(label: string, size: number, params: string[], upload: (r: RequestInfo) => boolean): Promise<Aftermath> {
  const plan = [{ fault: 'stall' as const, match: upload, atByte: MiB, stallMs: 120_000 }];
  return withFaultProxy({ target: suite.s3.endpoint, plan }, async (proxy) => {
    const repo = await AnnexRepo.create(suite.sandbox, label);
    const bucket = await initS3Remote(repo, { ...suite.s3, endpoint: proxy.url }, 's3', params);
    await repo.write('big.bin', randomBytes(size));
    await repo.commitAll();
    const key = await repo.key('big.bin');

    await killMidway(repo, ['copy', '--to', 's3', 'big.bin'], 'git-annex-remote-annexd-s3', () => proxy.injected.stall === 1);

    // checkpresentkey asks the remote; 1 is "not present".
    expect((await repo.run('git', ['annex', 'checkpresentkey', key, 's3'])).code).toBe(1);
    expect((await repo.ok('git', 'annex', 'whereis', 'big.bin')).stdout).not.toMatch(/\[s3\]/);
    const listed = await suite.s3.list(bucket);
    expect(listed.filter((k) => k !== key)).toEqual([]);
    const uploadDir = join(suite.sandbox.dir, 's3-data', bucket, '._S3rver_uploads');
    const uploads = existsSync(uploadDir) ? readdirSync(uploadDir, { recursive: true }).map(String) : [];

    await repo.ok('git', 'annex', 'copy', '--to', 's3', 'big.bin');
    await repo.ok('git', 'annex', 'fsck', '--from', 's3', 'big.bin');
    expect(await suite.s3.list(bucket)).toEqual([key]);
    return { key, listed, uploads };
  });
}

/** The embedded s3rver, not an external server from ANNEXD_TEST_S3_ENDPOINT. */
const embedded = process.env.ANNEXD_TEST_S3_ENDPOINT === undefined;

describe('annexd-s3 killed mid-store', () => {
  it('a single PUT: not present (even where the server kept the cut part); the next copy succeeds', async () => {
    const after = await killedUpload('killed-put', 24 * MiB, [], (r) => r.method === 'PUT');
    // s3rver writes a PUT straight to the object, so the cut upload's first MiB stays
    // under the key's name: not the key's content, which only the size tells.
    // (S3 and MinIO never show a partial PUT.) This is the case CHECKPRESENT must get right.
    if (embedded) expect(after.listed).toEqual([after.key]);
    console.log(`after the kill, objects on the server: ${after.listed.join(', ') || 'none'}`);
  });

  it('a multipart upload: no object, not present; the next copy succeeds', async () => {
    const after = await killedUpload(
      'killed-multipart',
      20 * MiB,
      ['partsize=5MiB', 'multipartthreshold=5MiB', 'concurrency=1'],
      (r) => r.method === 'PUT' && /[?&]partNumber=3(&|$)/.test(r.path),
    );
    expect(after.listed).toEqual([]);
    // Nothing can abort the upload after SIGKILL: its first parts stay on the server
    // until a lifecycle rule (AbortIncompleteMultipartUpload) removes them. They are never an object.
    console.log(`after the kill, parts of the abandoned upload on the server: ${after.uploads.join(', ')}`);
    if (embedded) expect(after.uploads.filter((f) => /\/[12]$/.test(f))).toHaveLength(2);
  });
});

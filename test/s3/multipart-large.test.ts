/**
 * Objects above S3's 5 GiB single-request limit: the planning of parts (pure
 * arithmetic, at real sizes), and the same code paths at a small scale against
 * the real test server: a store in parts whatever multipartthreshold says, and
 * an export rename copied in parts with UploadPartCopy (copythreshold=5MiB),
 * also against a server that lacks UploadPartCopy.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/remotes/core/config.js';
import { s3Schema, s3Settings } from '../../src/remotes/s3/config.js';
import { MAX_PARTS, MAX_SINGLE_REQUEST, needsParts, planParts } from '../../src/remotes/s3/multipart-plan.js';
import type { AnnexApi, RequestContext } from '../../src/protocol/contract.js';
import { S3Store, Slots } from '../../src/remotes/s3/store.js';
import { AnnexRepo } from '../support/annex.js';
import { withFaultProxy } from '../support/fault-proxy.js';
import { initS3Remote, startEmbeddedTestS3, useS3Suite, type TestS3 } from '../support/s3.js';

const suite = useS3Suite();
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const settingsOf = async (given: Record<string, string>) => s3Settings(await readConfig(s3Schema, async (name) => given[name] ?? ''), {});

describe('planning parts for large objects', () => {
  it('never sends a single PUT above 5 GiB, whatever multipartthreshold says', async () => {
    const s = await settingsOf({ bucket: 'b', multipartthreshold: '100GiB' });
    expect(s.multipartThreshold).toBe(MAX_SINGLE_REQUEST);
    expect(needsParts(6 * GiB, s.multipartThreshold)).toBe(true);
    expect(needsParts(5 * GiB, s.multipartThreshold)).toBe(true);
    expect(needsParts(5 * GiB - 1, s.multipartThreshold)).toBe(false);
    // Defaults: 32 MiB and up in parts.
    const d = await settingsOf({ bucket: 'b' });
    expect(needsParts(32 * MiB - 1, d.multipartThreshold)).toBe(false);
    expect(needsParts(32 * MiB, d.multipartThreshold)).toBe(true);
    // Below partsize, from the threshold on: in smaller parts (see the spread below), not one PUT.
    const low = await settingsOf({ bucket: 'b', multipartthreshold: '8MiB' });
    expect(needsParts(16 * MiB, low.multipartThreshold)).toBe(true);
  });

  it('raises the part size to stay within 10,000 parts, in whole MiB', () => {
    expect(planParts(6 * GiB, 32 * MiB)).toEqual({ partSize: 32 * MiB, partCount: 192 });
    const tib = planParts(1024 * GiB, 32 * MiB);
    expect(tib.partCount).toBeLessThanOrEqual(MAX_PARTS);
    expect(tib.partSize % MiB).toBe(0);
    expect(tib.partSize).toBe(105 * MiB);
    // 5 TiB, the largest S3 object: 10,000 parts of 525 MiB at most.
    const most = planParts(5 * 1024 * GiB, 32 * MiB);
    expect(most.partCount).toBeLessThanOrEqual(MAX_PARTS);
    expect(most.partSize * most.partCount).toBeGreaterThanOrEqual(5 * 1024 * GiB);
    expect(() => planParts(10_000 * 5 * GiB + 1, 32 * MiB)).toThrow(/more than S3 can hold in one object/);
    // A small object is one part; never below 5 MiB per part.
    expect(planParts(1, 1)).toEqual({ partSize: 5 * MiB, partCount: 1 });
  });

  it('cuts a file with fewer parts than streams into smaller parts, in whole MiB and not below 5 MiB', () => {
    // 1 GiB at the defaults: 32 parts of 32 MiB, 8 at once.
    expect(planParts(1024 * MiB, 32 * MiB, 8)).toEqual({ partSize: 32 * MiB, partCount: 32 });
    // 64 MiB would be 2 parts of 32 MiB: 8 parts of 8 MiB keep all 8 streams busy.
    expect(planParts(64 * MiB, 32 * MiB, 8)).toEqual({ partSize: 8 * MiB, partCount: 8 });
    expect(planParts(100 * MiB, 32 * MiB, 8)).toEqual({ partSize: 13 * MiB, partCount: 8 });
    // 16 MiB: 4 parts of 5 MiB (the minimum), not 8 of 2 MiB.
    expect(planParts(16 * MiB, 32 * MiB, 8)).toEqual({ partSize: 5 * MiB, partCount: 4 });
    // The 10,000-part rule still wins for huge files.
    expect(planParts(1024 * GiB, 32 * MiB, 8).partSize).toBe(105 * MiB);
  });

  it('keeps at most the given number of part requests in flight, in order, and frees a slot on failure', async () => {
    const slots = new Slots(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const job = (i: number) =>
      slots.run(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        if (i === 4) throw new Error('part 4 failed');
        return i;
      });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => job(i)));
    expect(most).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(9);
    // All slots are free again.
    expect(await Promise.all([job(20), job(21), job(22)])).toEqual([20, 21, 22]);
  });

  it('refuses a copythreshold above what one CopyObject copies', async () => {
    await expect(settingsOf({ bucket: 'b', copythreshold: '6GiB' })).rejects.toThrow(/copythreshold.*at most/);
    expect((await settingsOf({ bucket: 'b' })).copyThreshold).toBe(5 * GiB);
  });
});

function client(s3: TestS3): S3Client {
  return new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
}

describe('the embedded server\'s UploadPartCopy', () => {
  it('copies byte ranges of an object into parts, under If-Match, and refuses bad ranges', async () => {
    const { s3 } = suite;
    const c = client(s3);
    const repo = await AnnexRepo.create(suite.sandbox, 'bucketmaker');
    const bucket = await initS3Remote(repo, s3, 'upc');
    try {
      const data = randomBytes(12 * MiB + 17);
      const put = await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'src/a b', Body: data }));
      const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'dst' }));
      const source = `${bucket}/src/a%20b`;
      const ranges = [[0, 5 * MiB - 1], [5 * MiB, 10 * MiB - 1], [10 * MiB, data.length - 1]];
      const etags: string[] = [];
      for (const [i, [a, b]] of ranges.entries()) {
        const r = await c.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'dst', UploadId, PartNumber: i + 1, CopySource: source, CopySourceRange: `bytes=${a}-${b}`, CopySourceIfMatch: put.ETag }));
        etags.push(r.CopyPartResult?.ETag ?? '');
      }
      expect(etags.every((e) => /^"[0-9a-f]{32}"$/.test(e))).toBe(true);
      await c.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'dst', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
      const got = Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'dst' }))).Body!.transformToByteArray());
      expect(got.equals(data)).toBe(true);

      const second = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'dst2' }));
      const part = (over: Record<string, unknown>) =>
        c.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'dst2', UploadId: second.UploadId, PartNumber: 1, CopySource: source, ...over }));
      await expect(part({ CopySourceIfMatch: '"0123456789abcdef0123456789abcdef"' })).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
      await expect(part({ CopySourceIfNoneMatch: put.ETag })).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
      await expect(part({ CopySourceRange: `bytes=0-${data.length}` })).rejects.toMatchObject({ name: 'InvalidRange', $metadata: { httpStatusCode: 400 } });
      await expect(part({ CopySourceRange: 'bytes=9-3' })).rejects.toMatchObject({ name: 'InvalidArgument' });
      await expect(part({ CopySource: `${bucket}/nothing-here` })).rejects.toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
      await expect(part({ UploadId: 'abcdef' })).rejects.toMatchObject({ name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } });
      await expect(part({ PartNumber: 10_001 })).rejects.toMatchObject({ name: 'InvalidArgument' });
      // Without a range, the whole object is the part.
      const whole = await part({});
      expect(whole.CopyPartResult?.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    } finally {
      c.destroy();
    }
  });
});

/** Leftover multipart uploads of a bucket on the embedded server's disk. */
function leftoverUploads(dataDir: string, bucket: string): string[] {
  const uploads = join(dataDir, 's3-data', bucket, '._S3rver_uploads');
  return existsSync(uploads) ? readdirSync(uploads) : [];
}

/** Exports a tree with a 12 MiB file, renames it, exports again: returns the second export's output. */
async function exportAndRename(repo: AnnexRepo, remote: string, data: Buffer) {
  await repo.write('big.bin', data);
  await repo.write('small.txt', 'small\n');
  await repo.commitAll();
  await repo.ok('git', 'annex', 'export', 'main', '--to', remote);
  await rename(join(repo.path, 'big.bin'), join(repo.path, 'big-renamed.bin'));
  await rename(join(repo.path, 'small.txt'), join(repo.path, 'small-renamed.txt'));
  await repo.ok('git', 'add', '-A');
  await repo.ok('git', 'commit', '-q', '-m', 'rename');
  return repo.run('git', ['annex', 'export', 'main', '--to', remote, '--debug']);
}

describe('export renames above copythreshold', () => {
  it('copies the object in parts on the server (UploadPartCopy) and leaves no upload behind', async () => {
    const { s3, sandbox } = suite;
    const repo = await AnnexRepo.create(sandbox, 'mpcopy');
    const bucket = await initS3Remote(repo, s3, 'tree', ['exporttree=yes', 'copythreshold=5MiB', 'partsize=5MiB']);
    const data = randomBytes(12 * MiB);
    const r = await exportAndRename(repo, 'tree', data);
    expect(r.code, r.stderr).toBe(0);
    // git-annex renames through a temporary name: two copies of the big file, each in parts;
    // the small file went through CopyObject.
    const copies = r.stderr.match(/DEBUG multipart copy of .*/g) ?? [];
    expect(copies).toEqual(['DEBUG multipart copy of 12 MiB in 3 parts of 5 MiB, 3 at once', 'DEBUG multipart copy of 12 MiB in 3 parts of 5 MiB, 3 at once']);
    expect(await s3.list(bucket)).toEqual(['big-renamed.bin', 'small-renamed.txt']);
    expect(leftoverUploads(sandbox.dir, bucket)).toEqual([]);
    await repo.ok('git', 'annex', 'drop', '--force', 'big-renamed.bin');
    await repo.ok('git', 'annex', 'get', '--from', 'tree', 'big-renamed.bin');
    expect((await readFile(join(repo.path, 'big-renamed.bin'))).equals(data)).toBe(true);
    await repo.ok('git', 'annex', 'fsck', '--from', 'tree', '.');
  });

  it('against a server without UploadPartCopy: the rename fails in one line naming the call, and git-annex uploads the file again', async () => {
    const dir = join(suite.sandbox.dir, 'noupc');
    const server = await startEmbeddedTestS3(dir, { ANNEXD_S3_WITHOUT: 'UploadPartCopy' });
    try {
      const repo = await AnnexRepo.create(suite.sandbox, 'noupc-repo');
      const bucket = await initS3Remote(repo, server, 'tree', ['exporttree=yes', 'copythreshold=5MiB', 'partsize=5MiB']);
      const data = randomBytes(12 * MiB);
      const r = await exportAndRename(repo, 'tree', data);
      expect(r.stderr).toMatch(/does not implement UploadPartCopy \(NotImplemented, HTTP 501\): big\.bin \(12 MiB\) is bigger than one CopyObject may copy \(copythreshold=5 MiB\), so it cannot be renamed on the server/);
      expect(r.code, r.stderr).toBe(0);
      expect(await server.list(bucket)).toEqual(['big-renamed.bin', 'small-renamed.txt']);
      expect(leftoverUploads(dir, bucket)).toEqual([]);
      await repo.ok('git', 'annex', 'drop', '--force', 'big-renamed.bin');
      await repo.ok('git', 'annex', 'get', '--from', 'tree', 'big-renamed.bin');
      expect((await readFile(join(repo.path, 'big-renamed.bin'))).equals(data)).toBe(true);
    } finally {
      await server.stop();
    }
  });
});

describe('a multipart copy whose source changes meanwhile', () => {
  it('fails with 412 from the parts pinned to the first ETag, and leaves no object and no upload', async () => {
    const { s3, sandbox } = suite;
    const c = client(s3);
    const repo = await AnnexRepo.create(sandbox, 'changing');
    const bucket = await initS3Remote(repo, s3, 'changing');
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'src', Body: randomBytes(12 * MiB) }));
    let replaced: Promise<unknown> | undefined;
    let held!: () => void;
    const sourceReplaced = new Promise<void>((r) => (held = r));
    try {
      // CreateMultipartUpload's answer is held back while the source is replaced: the HEAD saw the old version.
      await withFaultProxy(
        {
          target: s3.endpoint,
          plan: [
            {
              fault: 'stall',
              atByte: 0,
              until: sourceReplaced,
              match: (r) => {
                const hit = r.method === 'POST' && r.path.includes('?uploads');
                if (hit) replaced = c.send(new PutObjectCommand({ Bucket: bucket, Key: 'src', Body: 'another version' })).finally(held);
                return hit;
              },
            },
          ],
        },
        async (proxy) => {
          const settings = await settingsOf({ bucket, endpoint: proxy.url, copythreshold: '5MiB', partsize: '5MiB', retries: '1' });
          const debug: string[] = [];
          const annex = { debug: async (m: string) => void debug.push(m), info: async () => undefined } as unknown as AnnexApi;
          const ctx: RequestContext = { annex, signal: new AbortController().signal };
          const store = await S3Store.connect(settings, { user: s3.accessKeyId, secret: s3.secretAccessKey, origin: 'environment', source: 'test' });
          try {
            await expect(store.copy('src', 'dst', ctx)).rejects.toThrow(/src changed on the server during the copy to dst; the copy was abandoned/);
            expect(proxy.injected.stall).toBe(1);
            expect(debug.join('\n')).toMatch(/multipart copy of 12 MiB in 3 parts/);
          } finally {
            store.close();
          }
        },
      );
      await replaced;
      expect(await s3.list(bucket)).toEqual(['src']);
      expect(leftoverUploads(sandbox.dir, bucket)).toEqual([]);
    } finally {
      c.destroy();
    }
  });
});

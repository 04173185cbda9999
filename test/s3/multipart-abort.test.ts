/**
 * A multipart upload that fails midway is aborted: no object appears, and no
 * parts stay behind on the server (they would cost storage forever).
 * Driven at the store level against the real test server; the failure is the
 * local file vanishing after the first parts went out.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AnnexApi, RequestContext } from '../../src/protocol/contract.js';
import { ProgressReporter } from '../../src/remotes/core/progress.js';
import type { S3Settings } from '../../src/remotes/s3/config.js';
import { S3Store } from '../../src/remotes/s3/store.js';
import { startEmbeddedTestS3, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
const MiB = 1024 * 1024;

/** Progress that deletes `file` once more than 6 MiB went out: part 2 is read from an open file, part 3 finds nothing to open. */
function vanishingAfterFirstPart(file: string): { progress: ProgressReporter; gone: () => boolean } {
  let gone = false;
  const progress = new ProgressReporter({
    progress: async (bytes) => {
      if (!gone && bytes > 6 * MiB) {
        gone = true;
        unlinkSync(file);
      }
    },
  });
  return { progress, gone: () => gone };
}

describe('multipart failure', () => {
  it('aborts the upload: no object and no parts are left', async () => {
    const { s3, sandbox } = suite;
    const settings: S3Settings = {
      bucket: s3.bucket('abort'),
      endpoint: s3.endpoint,
      region: 'us-east-1',
      prefix: '',
      pathStyle: true,
      publicUrl: undefined,
    credential: undefined,
      partSize: 5 * MiB,
      multipartThreshold: 5 * MiB,
      copyThreshold: 5 * 1024 * MiB,
      concurrency: 1,
      storageClass: undefined,
      createBucket: true,
      retries: 1,
      download: { streams: 1, threshold: 64 * MiB, rangeSize: 16 * MiB },
    };
    const debug: string[] = [];
    const annex = { debug: async (m: string) => void debug.push(m), progress: async () => undefined } as unknown as AnnexApi;
    const ctx: RequestContext = { annex, signal: new AbortController().signal };
    const store = await S3Store.connect(settings, { user: s3.accessKeyId, secret: s3.secretAccessKey, origin: 'environment', source: 'test' });
    try {
      await store.ensureBucket(ctx);
      const file = join(sandbox.dir, 'vanishing.bin');
      writeFileSync(file, randomBytes(30 * MiB));
      const { progress, gone } = vanishingAfterFirstPart(file);
      await expect(store.put('big-object', Buffer.from(file), { ...ctx, progress })).rejects.toThrow(/ENOENT/);
      expect(gone()).toBe(true);
      expect(debug.join('\n')).toMatch(/multipart upload of 30 MiB in 6 parts/);
      expect(debug.join('\n')).not.toMatch(/could not abort/);
      expect(await store.exists('big-object', ctx)).toBe(false);
      const uploads = join(sandbox.dir, 's3-data', settings.bucket, '._S3rver_uploads');
      expect(existsSync(uploads) ? readdirSync(uploads) : []).toEqual([]);
      // The server kept parts until then: the check above is not vacuous.
      expect(existsSync(uploads)).toBe(true);
    } finally {
      store.close();
    }
  });
});

describe('a server without AbortMultipartUpload', () => {
  it('says once per process that the parts stay, and names annexd s3-uploads', async () => {
    const server = await startEmbeddedTestS3(join(suite.sandbox.dir, 'noabort'), { ANNEXD_S3_WITHOUT: 'AbortMultipartUpload' });
    const settings: S3Settings = {
      bucket: server.bucket('noabort'), endpoint: server.endpoint, region: 'us-east-1', prefix: '', pathStyle: true,
      publicUrl: undefined, credential: undefined, partSize: 5 * MiB, multipartThreshold: 5 * MiB, copyThreshold: 5 * 1024 * MiB, concurrency: 1,
      storageClass: undefined, createBucket: true, retries: 1,
      download: { streams: 1, threshold: 64 * MiB, rangeSize: 16 * MiB },
    };
    const info: string[] = [];
    const annex = { debug: async () => undefined, info: async (m: string) => void info.push(m), progress: async () => undefined } as unknown as AnnexApi;
    const ctx: RequestContext = { annex, signal: new AbortController().signal };
    const store = await S3Store.connect(settings, { user: server.accessKeyId, secret: server.secretAccessKey, origin: 'environment', source: 'test' });
    try {
      await store.ensureBucket(ctx);
      for (const name of ['one', 'two']) {
        const file = join(suite.sandbox.dir, `${name}.bin`);
        writeFileSync(file, randomBytes(12 * MiB));
        const { progress } = vanishingAfterFirstPart(file);
        await expect(store.put(name, Buffer.from(file), { ...ctx, progress })).rejects.toThrow(/ENOENT/);
      }
      expect(info).toHaveLength(1);
      expect(info[0]).toMatch(/does not implement AbortMultipartUpload \(MethodNotAllowed\): the parts of an interrupted upload stay there; "annexd s3-uploads REMOTE" lists them/);
    } finally {
      store.close();
      await server.stop();
    }
  });
});

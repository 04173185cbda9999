/**
 * An S3-compatible server embedded for the demo, the tests and the benchmarks:
 * s3rver (a real HTTP S3 implementation over a directory) on 127.0.0.1, with
 * SigV4 signatures checked (s3rver itself checks only access key ids).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import S3rver from 's3rver';
import { sigv4Verifier } from './sigv4-verifier.js';

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  close(): Promise<void>;
}

export interface EmbeddedS3Options {
  directory: string;
  port?: number;
  accessKeyId?: string;
  secretAccessKey?: string;
  buckets?: string[];
  /** Appends one line per request (time, method, URL, status) to this file; for debugging. */
  requestLog?: string;
}

export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  const accessKeyId = options.accessKeyId ?? 'annexd-local';
  const secretAccessKey = options.secretAccessKey ?? randomBytes(18).toString('base64url');
  // s3rver keeps its accounts in a CommonJS registry; register our key pair there.
  const require = createRequire(import.meta.url);
  const account = require('s3rver/lib/models/account.js') as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
  };
  account.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    directory: options.directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  // Koa runs middleware in array order: these go before s3rver's own.
  server.middleware.unshift(sigv4Verifier(new Map([[accessKeyId, secretAccessKey]])), abortMultipartUpload(server.store));
  if (options.requestLog) server.middleware.unshift(requestLogger(options.requestLog));
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId,
    secretAccessKey,
    close: () => server.close(),
  };
}

interface AbortContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}

/**
 * AbortMultipartUpload (DELETE /bucket/key?uploadId=…), which s3rver lacks: real
 * S3 servers have it, and annexd relies on it to leave no parts of a failed
 * upload behind. s3rver keeps an upload's parts in one directory per upload id.
 */
function abortMultipartUpload(store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string }) {
  return async (ctx: AbortContext, next: () => Promise<unknown>): Promise<void> => {
    const uploadId = ctx.query.uploadId;
    if (ctx.method !== 'DELETE' || typeof uploadId !== 'string') {
      await next();
      return;
    }
    const bucket = decodeURIComponent(ctx.path.split('/')[1] ?? '');
    const dir = /^[0-9a-f]+$/.test(uploadId) ? join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId) : '';
    if (!dir || !existsSync(dir)) {
      ctx.status = 404;
      ctx.type = 'application/xml';
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
      return;
    }
    await rm(dir, { recursive: true, force: true });
    ctx.status = 204;
  };
}

function requestLogger(file: string) {
  return async (ctx: { method: string; url: string; status: number }, next: () => Promise<unknown>): Promise<void> => {
    const start = new Date().toISOString();
    try {
      await next();
    } finally {
      await appendFile(file, `${start} ${ctx.method} ${ctx.url} ${ctx.status}\n`).catch(() => undefined);
    }
  };
}

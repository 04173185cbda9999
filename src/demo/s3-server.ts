/**
 * An S3-compatible server embedded for the demo, the tests and the benchmarks:
 * s3rver (a real HTTP S3 implementation over a directory) on 127.0.0.1, with
 * SigV4 signatures checked (s3rver itself checks only access key ids).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
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
  // Koa runs middleware in array order: the check goes before s3rver's own.
  server.middleware.unshift(sigv4Verifier(new Map([[accessKeyId, secretAccessKey]])));
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId,
    secretAccessKey,
    close: () => server.close(),
  };
}

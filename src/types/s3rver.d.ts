// Minimal typing of the parts of s3rver (CommonJS, untyped) that annexd uses.
declare module 's3rver' {
  import type { Server } from 'node:http';
  import type { Readable } from 'node:stream';
  interface S3rverOptions {
    address?: string;
    port?: number;
    directory?: string;
    silent?: boolean;
    resetOnClose?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: Array<{ name: string }>;
  }
  class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    httpServer?: Server;
    store: {
      getResourcePath(bucket: string, key: string | undefined, resource: string): string;
      getObject(
        bucket: string,
        key: string,
        range?: { start: number; end: number },
      ): Promise<{ content: Readable | null; metadata: Record<string, string | number> } | null>;
      putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ size: number; md5: string }>;
    };
    /** Koa's middleware list (S3rver extends Koa). */
    middleware: unknown[];
  }
  export default S3rver;
}
declare module 's3rver/lib/models/account.js' {
  interface Account {
    createKeyPair(accessKeyId: string, secretAccessKey: string): void;
  }
  export const DUMMY_ACCOUNT: Account;
}

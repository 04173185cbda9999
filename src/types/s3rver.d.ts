// Minimal typing of the parts of s3rver (CommonJS, untyped) that annexd uses.
declare module 's3rver' {
  import type { Server } from 'node:http';
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
    store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string };
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

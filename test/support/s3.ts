/**
 * The S3 server for integration tests: the embedded s3rver in its own process
 * on 127.0.0.1, or an external server (MinIO from docker/) when
 * ANNEXD_TEST_S3_ENDPOINT is set. Also a direct SDK client to look inside buckets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { initExternalRemote, useSandboxWith, type Sandbox } from './annex.js';
import { REPO_ROOT, requireBuild } from './tools.js';

export interface TestS3 {
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** AWS_* variables for initremote. */
  credsEnv: NodeJS.ProcessEnv;
  /** A fresh bucket name per call, so tests sharing a server do not collide. */
  bucket(label: string): string;
  list(bucket: string, prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

// The SDK's Node 20 deprecation notice is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let counter = 0;

function build(endpoint: string, accessKeyId: string, secretAccessKey: string, stop: () => Promise<void>): TestS3 {
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  return {
    endpoint,
    port: Number(new URL(endpoint).port),
    accessKeyId,
    secretAccessKey,
    credsEnv: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey },
    bucket: (label) => `t-${label}-${process.pid}-${++counter}`.toLowerCase().slice(0, 63),
    async list(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async stop() {
      client.destroy();
      await stop();
    },
  };
}

/** Starts the embedded server with extra environment, e.g. ANNEXD_S3_WITHOUT (never an external one: the caller needs this server). */
export function startEmbeddedTestS3(dataDir: string, serverEnv: NodeJS.ProcessEnv): Promise<TestS3> {
  return startTestS3(dataDir, undefined, serverEnv);
}

/** Starts a server (or attaches to ANNEXD_TEST_S3_ENDPOINT, unless `serverEnv` asks for the embedded one's options). */
export async function startTestS3(
  dataDir: string,
  secret = randomBytes(16).toString('hex'),
  serverEnv?: NodeJS.ProcessEnv,
): Promise<TestS3> {
  const external = serverEnv ? undefined : process.env.ANNEXD_TEST_S3_ENDPOINT;
  if (external) {
    const id = process.env.ANNEXD_TEST_S3_ACCESS_KEY_ID;
    const key = process.env.ANNEXD_TEST_S3_SECRET_ACCESS_KEY;
    if (!id || !key) {
      throw new Error('ANNEXD_TEST_S3_ENDPOINT is set: also set ANNEXD_TEST_S3_ACCESS_KEY_ID and ANNEXD_TEST_S3_SECRET_ACCESS_KEY');
    }
    return build(external, id, key, async () => undefined);
  }
  requireBuild();
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'demo', 's3-server-main.js'), join(dataDir, 's3-data')], {
    env: { ...process.env, ...serverEnv, ANNEXD_S3_ACCESS_KEY_ID: 'annexd-test', ANNEXD_S3_SECRET_ACCESS_KEY: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => resolve(l));
    child.once('exit', (code) => reject(new Error(`the S3 test server exited early (code ${code})`)));
  });
  const info = JSON.parse(line) as { endpoint: string; accessKeyId: string; secretAccessKey: string };
  return build(info.endpoint, info.accessKeyId, info.secretAccessKey, async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });
}

/** `git annex initremote NAME type=external externaltype=annexd-s3 …` with the server's credentials. */
export async function initS3Remote(
  repo: { okEnv(env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<unknown> },
  s3: TestS3,
  name: string,
  params: string[] = [],
  bucket = s3.bucket(name),
): Promise<string> {
  await initExternalRemote(repo, 'annexd-s3', name, [`bucket=${bucket}`, `endpoint=${s3.endpoint}`, ...params], s3.credsEnv);
  return bucket;
}

export interface S3Suite {
  readonly sandbox: Sandbox;
  readonly s3: TestS3;
}

/** Registers beforeAll/afterAll that give a test file its own sandbox and S3 server. */
export function useS3Suite(secret?: string): S3Suite {
  return useSandboxWith('s3', (dir) => startTestS3(dir, secret));
}

/**
 * Parallel ranged downloads on S3 (issue 14.2), through the proxy shaped as a
 * wide-area link: a large object comes in ranges over several connections,
 * an interrupted download resumes with the ranges it lacks, and an object
 * that changes mid-download is never assembled from two versions.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { until } from '../support/kill.js';
import { through, withFaultProxy } from '../support/fault-proxy.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
const MiB = 1024 * 1024;
const RANGES = ['downloadthreshold=8MiB', 'downloadrangesize=4MiB', 'downloadstreams=4'];
let repo: AnnexRepo;

beforeAll(async () => {
  repo = await AnnexRepo.create(suite.sandbox);
});

/** A remote whose endpoint is the proxy: initremote and copy go straight to the server, the get through the proxy. */
async function remoteWithFile(name: string, mib: number): Promise<{ bucket: string; file: string; key: string }> {
  const bucket = await initS3Remote(repo, suite.s3, name, RANGES);
  const file = `${name}.bin`;
  await repo.write(file, randomBytes(mib * MiB));
  await repo.commitAll();
  await repo.ok('git', 'annex', 'copy', '--to', name, file);
  await repo.ok('git', 'annex', 'drop', file);
  return { bucket, file, key: await repo.key(file) };
}

const viaProxy = (name: string, proxyUrl: string): Promise<unknown> =>
  repo.ok('git', 'annex', 'enableremote', name, `endpoint=${through({ url: proxyUrl } as never, suite.s3.endpoint)}`);

const rangedGets = (requests: ReadonlyArray<{ method: string; range?: string }>): string[] =>
  requests.filter((r) => r.method === 'GET' && r.range).map((r) => r.range as string);

describe('annexd-s3 parallel ranged downloads', () => {
  it('gets a 24 MiB object as 6 ranges over several connections, verified by git-annex', async () => {
    const { file } = await remoteWithFile('par', 24);
    await withFaultProxy({ target: suite.s3.endpoint, latencyMs: 10, bytesPerSecond: 16 * MiB }, async (proxy) => {
      await viaProxy('par', proxy.url);
      await repo.ok('git', 'annex', 'get', '--from', 'par', file);
      const ranges = rangedGets(proxy.requests);
      expect(ranges.sort()).toEqual(
        [0, 1, 2, 3, 4, 5].map((i) => `bytes=${i * 4 * MiB}-${(i + 1) * 4 * MiB - 1}`).sort(),
      );
      expect(proxy.connections).toBeGreaterThanOrEqual(4);
    });
    await repo.ok('git', 'annex', 'fsck', file);
  });

  it('resumes an interrupted parallel download with only the ranges it lacks', async () => {
    const { file } = await remoteWithFile('resume', 24);
    // The first attempt: the fifth range request and every one after it are cut.
    await withFaultProxy(
      { target: suite.s3.endpoint, plan: [{ fault: 'cut-response', match: (r) => r.method === 'GET' && !!r.headers.range, skip: 4, times: 1000, atByte: 1000 }] },
      async (proxy) => {
        await viaProxy('resume', proxy.url);
        await repo.ok('git', 'annex', 'enableremote', 'resume', 'retries=0');
        const r = await repo.run('git', ['annex', 'get', '--from', 'resume', file], {});
        expect(r.code).not.toBe(0);
      },
    );
    const tmp = join(repo.path, '.git', 'annex', 'tmp');
    expect(readdirSync(tmp).some((n) => n.endsWith('.annexd-ranges'))).toBe(true);
    await withFaultProxy({ target: suite.s3.endpoint }, async (proxy) => {
      await viaProxy('resume', proxy.url);
      await repo.ok('git', 'annex', 'get', '--from', 'resume', file);
      // Four ranges were already in the file.
      expect(rangedGets(proxy.requests).length).toBeLessThanOrEqual(2 + 2);
      expect(rangedGets(proxy.requests).length).toBeGreaterThan(0);
    });
    await repo.ok('git', 'annex', 'fsck', file);
    expect(readdirSync(tmp).some((n) => n.endsWith('.annexd-ranges'))).toBe(false);
  });

  it('an object that changes mid-download is never assembled from two versions', async () => {
    const { bucket, file, key } = await remoteWithFile('changing', 24);
    const client = new S3Client({ endpoint: suite.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: suite.s3.accessKeyId, secretAccessKey: suite.s3.secretAccessKey } });
    let replaced!: () => void;
    const replacedOnServer = new Promise<void>((r) => (replaced = r));
    const first = `bytes=0-${4 * MiB - 1}`;
    await withFaultProxy(
      {
        target: suite.s3.endpoint,
        // The first range (fetched alone, it fixes the version) is held mid-body until the object has been
        // replaced: by then the server has answered its head with the old version, whatever the machine's load.
        plan: [{ fault: 'stall', match: (r) => r.method === 'GET' && r.headers.range === first, atByte: 1000, until: replacedOnServer }],
      },
      async (proxy) => {
        await viaProxy('changing', proxy.url);
        const getting = repo.run('git', ['annex', '--debug', 'get', '--from', 'changing', file]);
        let exited = false;
        void getting.finally(() => (exited = true));
        await until('the first range to be held by the proxy', () => exited || proxy.requests.some((r) => r.range === first && r.fault === 'stall'));
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: randomBytes(24 * MiB) }));
        replaced();
        const r = await getting;
        const out = r.stdout + r.stderr;
        expect(proxy.injected.stall, 'the download was held while the object was replaced').toBe(1);
        // The change was seen, the download started over once, and the new bytes fail git-annex's checksum.
        expect(out).toMatch(/changed on the server during the download/);
        expect(r.code).not.toBe(0);
        expect((await repo.ok('git', 'annex', 'find', '--in', 'here', file)).stdout.trim()).toBe('');
      },
    );
    client.destroy();
  });
});

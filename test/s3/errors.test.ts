/** Bad input gets one clear line naming the fix, and nothing is reported present that is not. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initS3Remote, startTestS3, useS3Suite } from '../support/s3.js';
import { closedPort } from '../support/servers.js';

const suite = useS3Suite();
let repo: AnnexRepo;

beforeAll(async () => {
  repo = await AnnexRepo.create(suite.sandbox);
});


async function initremoteFails(env: NodeJS.ProcessEnv, ...params: string[]): Promise<string> {
  const r = await repo.run('git', ['annex', 'initremote', ...params], env);
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  return r.stdout + r.stderr;
}

const base = ['type=external', 'externaltype=annexd-s3', 'encryption=none'];

describe('initremote validation', () => {
  it('names the missing bucket setting', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'nobucket', ...base, `endpoint=${suite.s3.endpoint}`);
    expect(out).toMatch(/bucket= is required, e\.g\. bucket=my-annex/);
  });

  it('rejects an endpoint that is not http(s)', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'ftp', ...base, 'bucket=b1', 'endpoint=ftp://127.0.0.1/x');
    expect(out).toMatch(/endpoint= must be an http:\/\/ or https:\/\/ URL, not ftp:/);
  });

  it('rejects credentials embedded in the endpoint URL', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'userinfo', ...base, 'bucket=b1', 'endpoint=http://me:pw@127.0.0.1:1');
    expect(out).toMatch(/endpoint= must not contain a user name or password/);
  });

  it('rejects a bad size and a bad number', async () => {
    expect(await initremoteFails(suite.s3.credsEnv, 'badsize', ...base, 'bucket=b1', 'partsize=lots')).toMatch(/partsize= is not a size: "lots"/);
    expect(await initremoteFails(suite.s3.credsEnv, 'smallpart', ...base, 'bucket=b1', 'partsize=1MiB')).toMatch(/partsize= must be at least 5242880 bytes/);
    expect(await initremoteFails(suite.s3.credsEnv, 'badconc', ...base, 'bucket=b1', 'concurrency=0')).toMatch(/concurrency= must be between 1 and 32/);
  });

  it('lets git-annex refuse unknown settings (LISTCONFIGS) and lists ours in --whatelse', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'typo', ...base, 'bucket=b1', 'bukket=x');
    expect(out).toMatch(/Unexpected parameters: bukket/);
    const r = await repo.run('git', ['annex', 'initremote', 'whatelse', ...base, '--whatelse'], suite.s3.credsEnv);
    for (const key of ['bucket', 'endpoint', 'prefix', 'publicurl', 'partsize', 'concurrency']) expect(r.stdout).toMatch(new RegExp(`^${key}\\b`, 'm'));
  });

  it('says how to provide credentials when there are none', async () => {
    const out = await initremoteFails({ AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }, 'nocreds', ...base, 'bucket=b1', `endpoint=${suite.s3.endpoint}`);
    expect(out).toMatch(/no S3 credentials: store them with "annexd credentials set NAME key_id=YOUR_KEY_ID"/);
  });

  it('names an unreachable endpoint', async () => {
    const port = await closedPort();
    const out = await initremoteFails(suite.s3.credsEnv, 'down', ...base, 'bucket=b1', `endpoint=http://127.0.0.1:${port}`, 'retries=1');
    expect(out).toMatch(new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: connection refused`));
  });

  it('names an access key id the server does not know', async () => {
    const out = await initremoteFails({ AWS_ACCESS_KEY_ID: 'NOSUCHKEYID', AWS_SECRET_ACCESS_KEY: 'whatever-secret' }, 'wrongkey', ...base, 'bucket=b1', `endpoint=${suite.s3.endpoint}`);
    expect(out).toMatch(/the S3 server does not know this access key id: check AWS_ACCESS_KEY_ID/);
  });

  it('names a wrong secret key (the test server checks SigV4 signatures)', async () => {
    const env = { AWS_ACCESS_KEY_ID: suite.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: 'not-the-right-secret' };
    const out = await initremoteFails(env, 'wrongsecret', ...base, 'bucket=b1', `endpoint=${suite.s3.endpoint}`);
    expect(out).toMatch(/the S3 secret key does not match the access key id: check AWS_SECRET_ACCESS_KEY/);
    expect(out).not.toContain('not-the-right-secret');
    // Credentials the server refused are not remembered (every initremote in this repo failed).
    expect(await readdir(join(repo.path, '.git', 'annex', 'annexd', 'creds')).catch(() => [])).toEqual([]);
  });

  it('a remote whose remembered secret went stale fails transfers clearly', async () => {
    const repo2 = await AnnexRepo.create(suite.sandbox, 'stale');
    await initS3Remote(repo2, suite.s3, 'stale');
    await repo2.write('f.txt', 'content\n');
    await repo2.commitAll();
    // Rotate the key as an admin would: the remembered pair is now wrong.
    const r = await repo2.run('git', ['annex', 'copy', '--to', 'stale', 'f.txt'], {
      AWS_ACCESS_KEY_ID: suite.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: 'rotated-away',
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/secret key does not match the access key id/);
    expect((await repo2.ok('git', 'annex', 'whereis', 'f.txt')).stdout).not.toMatch(/\[stale\]/);
  });

  it('refuses a missing bucket when createbucket=no', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'nocreate', ...base, `bucket=${suite.s3.bucket('absent')}`, `endpoint=${suite.s3.endpoint}`, 'createbucket=no');
    expect(out).toMatch(/does not exist; create it first, or leave createbucket=yes/);
  });
});

describe('failures during transfers', () => {
  it('a server that goes away fails the copy clearly and records nothing', async () => {
    const other = await startTestS3(`${suite.sandbox.dir}/second`);
    const r2 = await AnnexRepo.create(suite.sandbox, 'flaky');
    await initS3Remote(r2, other, 'flaky', ['retries=1']);
    await r2.write('data.bin', 'some content\n');
    await r2.commitAll();
    await other.stop();
    const r = await r2.run('git', ['annex', 'copy', '--to', 'flaky', 'data.bin']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
    const where = await r2.ok('git', 'annex', 'whereis', 'data.bin');
    expect(where.stdout).not.toMatch(/\[flaky\]/);
  });

  it('a small store and get on the lean path name the server\'s error code: a deleted bucket, a lost object', async () => {
    const r4 = await AnnexRepo.create(suite.sandbox, 'lean-errors');
    const bucket = await initS3Remote(r4, suite.s3, 'leanerr', ['retries=0']);
    await r4.write('small.txt', 'small content\n');
    await r4.write('lost.txt', 'lost content\n');
    await r4.commitAll();
    await r4.ok('git', 'annex', 'copy', '--to', 'leanerr', 'lost.txt');
    const client = new S3Client({ endpoint: suite.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: suite.s3.accessKeyId, secretAccessKey: suite.s3.secretAccessKey } });
    try {
      // The object goes behind git-annex's back: retrieve gets NoSuchKey from the server's XML.
      const [objectKey] = await suite.s3.list(bucket);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey }));
      await r4.ok('git', 'annex', 'drop', '--force', 'lost.txt');
      const get = await r4.run('git', ['annex', 'get', '--from', 'leanerr', 'lost.txt']);
      expect(get.code).not.toBe(0);
      expect(get.stdout + get.stderr).toMatch(/retrieve failed on bucket "[^"]+" at .*: NoSuchKey \(HTTP 404\)/);
      // Then the bucket itself: the PUT's NoSuchBucket gives the fix, and nothing is recorded.
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      const copy = await r4.run('git', ['annex', 'copy', '--to', 'leanerr', 'small.txt']);
      expect(copy.code).not.toBe(0);
      expect(copy.stdout + copy.stderr).toMatch(/bucket "[^"]+" at .* does not exist: if it was deleted, "git annex enableremote REMOTE" creates it again/);
      expect((await r4.ok('git', 'annex', 'whereis', 'small.txt')).stdout).not.toMatch(/\[leanerr\]/);
    } finally {
      client.destroy();
    }
  });

  it('checkpresent against an unreachable server is an error, not "absent"', async () => {
    const other = await startTestS3(`${suite.sandbox.dir}/third`);
    const r3 = await AnnexRepo.create(suite.sandbox, 'gone');
    await initS3Remote(r3, other, 'gone', ['retries=0']);
    await r3.write('kept.bin', 'precious\n');
    await r3.commitAll();
    await r3.ok('git', 'annex', 'copy', '--to', 'gone', 'kept.bin');
    await other.stop();
    // fsck asks CHECKPRESENT; an unreachable server must not count as "content lost".
    const r = await r3.run('git', ['annex', 'fsck', '--fast', '--from', 'gone', 'kept.bin']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/cannot reach/);
    expect(r.stdout + r.stderr).not.toMatch(/fixing location log/);
  });
});

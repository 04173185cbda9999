/**
 * Issue 8.4: a server that is down fails a whole copy fast, through real
 * git-annex: one process, many keys, no retry budget spent per key.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initS3Remote, startTestS3, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
let repo: AnnexRepo;
const FILES = 40;

beforeAll(async () => {
  repo = await AnnexRepo.create(suite.sandbox);
  for (let i = 0; i < FILES; i++) await repo.write(`f${i}.bin`, randomBytes(512));
  await repo.commitAll();
});

describe('an endpoint that is down', () => {
  it('fails every key of copy -J4 after one refused connection per job, says so, and records nothing', async () => {
    const other = await startTestS3(`${suite.sandbox.dir}/down`);
    await initS3Remote(repo, other, 'down');
    await other.stop();
    const r = await repo.run('git', ['annex', 'copy', '-J4', '--debug', '--to', 'down', '.']);
    const out = r.stdout + r.stderr;
    expect(r.code).not.toBe(0);
    // Every key failed, each with the cause; none was retried.
    expect(out.match(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/g)?.length ?? 0).toBeGreaterThanOrEqual(FILES);
    expect(out).not.toMatch(/retrying /);
    // Keys after the first failures were not even sent, and say why.
    expect(out.match(/not retried: unreachable for the last \d+ s, next attempt in \d+ s/g)?.length ?? 0).toBeGreaterThanOrEqual(FILES - 4);
    // Told once (an INFO), not once per key.
    const shown = out.split('\n').filter((l) => !l.includes('-->') && l.includes('the requests that follow fail at once'));
    expect(shown).toHaveLength(1);
    expect((await repo.ok('git', 'annex', 'find', '--in', 'down')).stdout.trim()).toBe('');
  });

  it('initremote reports a refused connection at once, without retrying', async () => {
    const other = await startTestS3(`${suite.sandbox.dir}/never`);
    const endpoint = other.endpoint;
    await other.stop();
    const r = await repo.run(
      'git',
      ['annex', '--debug', 'initremote', 'never', 'type=external', 'externaltype=annexd-s3', 'encryption=none', 'bucket=b1', `endpoint=${endpoint}`],
      suite.s3.credsEnv,
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused \(is the server running, and is the port right\?\)/);
    expect(r.stdout + r.stderr).not.toMatch(/retrying |the requests that follow fail at once/);
  });
});

/**
 * Downloads that WaterButler answers with 302 to a signed URL on a storage
 * host (as for osfstorage on a cloud backend): annexd-osf follows it, sends
 * Range again there (resume), and never sends its token to that host (which
 * refuses requests that carry one).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

describe('annexd-osf with downloads redirected to a storage host', () => {
  const suite = useOsfSuite({ ANNEXD_OSF_REDIRECT_DOWNLOADS: '1' });

  it('gets -J4 through the redirect without the token, and resumes there with Range', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'redirect');
    await initOsfRemote(repo, suite.osf, 'osf', ['requestrate=50']);
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++) files[`r/${i}.bin`] = randomBytes(5000 + i);
    files['big.bin'] = randomBytes(2 * 1024 * 1024);
    for (const [name, c] of Object.entries(files)) await repo.write(name, c);
    await repo.commitAll();
    await repo.ok('git', 'annex', 'copy', '-J4', '--to', 'osf', '.');
    await repo.ok('git', 'annex', 'drop', '.');
    const key = await repo.key('big.bin');
    await mkdir(join(repo.path, '.git', 'annex', 'tmp'), { recursive: true });
    await writeFile(join(repo.path, '.git', 'annex', 'tmp', key), files['big.bin']!.subarray(0, 1000));
    const before = (await suite.osf.stats()).requests.length;
    await repo.ok('git', 'annex', 'get', '-J4', '.');
    for (const [name, c] of Object.entries(files)) expect((await readFile(join(repo.path, name))).equals(c), name).toBe(true);
    const reqs = (await suite.osf.stats()).requests.slice(before);
    const wbGets = reqs.filter((r) => r.host === 'wb' && r.method === 'GET');
    expect(wbGets.map((r) => r.status)).toEqual(wbGets.map(() => 302));
    const stored = reqs.filter((r) => r.host === 'storage');
    expect(stored).toHaveLength(13);
    // 200 for whole files, one 206 for the resumed one; a 400 would mean the token was sent there.
    expect(stored.map((r) => r.status).sort()).toEqual([...Array(12).fill(200), 206]);
  });
});

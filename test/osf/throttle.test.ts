/**
 * The request budget: one 429 with Retry-After pauses every job (no request
 * arrives during the pause); a server that allows fewer requests than the
 * remote may send keeps answering 429 and still nothing fails; and with its
 * own budget below the server's limit, the remote never meets a 429 at all.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

describe('annexd-osf when one request of many is throttled (every 10th answers 429, Retry-After: 1)', () => {
  const suite = useOsfSuite({ ANNEXD_OSF_THROTTLE_EVERY: '10' });

  it('pauses every job, not only the one that got the 429, and nothing fails', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'pause');
    const node = await initOsfRemote(repo, suite.osf, 'osf', ['requestrate=40']);
    for (let i = 0; i < 40; i++) await repo.write(`p/${i}.bin`, randomBytes(2000 + i));
    await repo.commitAll();
    const before = (await suite.osf.stats()).requests.length;
    const copy = await repo.run('git', ['annex', 'copy', '-J4', '--to', 'osf', '.']);
    expect(copy.code, copy.stdout + copy.stderr).toBe(0);
    const ours = (await suite.osf.stats()).requests.slice(before);
    expect(await suite.osf.rootNames(node)).toHaveLength(40);
    const throttled = ours.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThanOrEqual(3);
    // The other three jobs were busy when one got the 429: requests already on their way may
    // still arrive; after that, nothing until the second is over.
    for (const t of throttled) {
      const during = ours.filter((r) => r.at > t.at + 300 && r.at < t.at + 900);
      expect(during, `requests during the pause after the 429 at ${t.at} ms`).toEqual([]);
    }
  });
});

describe('annexd-osf under a server rate limit (8 requests per second)', () => {
  const suite = useOsfSuite({ ANNEXD_OSF_RATE_LIMIT: '8', ANNEXD_OSF_RATE_WINDOW_MS: '1000' });

  it('copy -J4 / get -J4 of 24 files succeed although the server keeps answering 429', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'over');
    // Told it may send 40 a second: the server's 429s must do the pacing.
    const node = await initOsfRemote(repo, suite.osf, 'osf', ['requestrate=40']);
    for (let i = 0; i < 24; i++) await repo.write(`t/${i}.bin`, randomBytes(1000 + i));
    await repo.commitAll();
    const before = (await suite.osf.stats()).requests.length;
    const copy = await repo.run('git', ['annex', 'copy', '-J4', '--to', 'osf', '.']);
    expect(copy.code, copy.stdout + copy.stderr).toBe(0);
    expect(await suite.osf.rootNames(node)).toHaveLength(24);
    await repo.ok('git', 'annex', 'drop', '.');
    const get = await repo.run('git', ['annex', 'get', '-J4', '.']);
    expect(get.code, get.stdout + get.stderr).toBe(0);
    const { requests } = await suite.osf.stats();
    const ours = requests.slice(before);
    const throttled = ours.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
  });

  it('stays under the limit with its own budget (requestrate=5): no 429, and never more than 7 requests in any second', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'under');
    const node = await initOsfRemote(repo, suite.osf, 'osf', ['requestrate=5']);
    for (let i = 0; i < 20; i++) await repo.write(`u/${i}.bin`, randomBytes(500 + i));
    await repo.commitAll();
    const before = (await suite.osf.stats()).requests.length;
    await repo.ok('git', 'annex', 'copy', '-J4', '--to', 'osf', '.');
    const ours = (await suite.osf.stats()).requests.slice(before);
    expect(await suite.osf.rootNames(node)).toHaveLength(20);
    expect(ours.filter((r) => r.status === 429)).toEqual([]);
    expect(ours.filter((r) => r.method === 'PUT')).toHaveLength(20);
    let most = 0;
    for (const r of ours) most = Math.max(most, ours.filter((q) => q.at >= r.at && q.at < r.at + 1000).length);
    expect(most).toBeLessThanOrEqual(7);
  });

  it('shares that budget between processes: two datasets copying at once stay under it together', async () => {
    const repos = [await AnnexRepo.create(suite.sandbox, 'shared-a'), await AnnexRepo.create(suite.sandbox, 'shared-b')];
    const nodes: string[] = [];
    for (const [i, repo] of repos.entries()) {
      nodes.push(await initOsfRemote(repo, suite.osf, 'osf', ['requestrate=5']));
      for (let f = 0; f < 15; f++) await repo.write(`s/${f}.bin`, randomBytes(700 + 20 * i + f));
      await repo.commitAll();
    }
    const before = (await suite.osf.stats()).requests.length;
    // Two git-annex processes, each with its own remote process, at the same time.
    const copies = await Promise.all(repos.map((r) => r.run('git', ['annex', 'copy', '-J4', '--to', 'osf', '.'])));
    for (const c of copies) expect(c.code, c.stdout + c.stderr).toBe(0);
    const ours = (await suite.osf.stats()).requests.slice(before);
    for (const node of nodes) expect(await suite.osf.rootNames(node)).toHaveLength(15);
    expect(ours.filter((r) => r.status === 429)).toEqual([]);
    let most = 0;
    for (const r of ours) most = Math.max(most, ours.filter((q) => q.at >= r.at && q.at < r.at + 1000).length);
    // One budget of 5 a second with bursts of 2 (each process alone would allow 7, both 14).
    expect(most).toBeLessThanOrEqual(7);
  });
});

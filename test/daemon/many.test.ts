/**
 * 50 datasets under one daemon (-J 4): all synced at start-up, each its
 * content on the directory remote and its commit on its own origin; then a
 * dataset removed while watched fails with a clear error and the others
 * carry on. Slow-ish (50 datasets), so a file of its own.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { annexd, refOf } from '../support/push.js';
import { datasetWithOrigin, eventually, readSyncs, startDaemon, type Daemon } from '../support/daemon.js';

const run = promisify(execFile);
const COUNT = 50;
let sandbox: Sandbox;
let daemon: Daemon | undefined;
beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(async () => {
  await daemon?.stop();
  await sandbox?.cleanup();
});

describe('50 datasets', () => {
  it('all synced by one daemon, four at a time; a dataset removed while watched fails alone, with a clear error', async () => {
    const { ds: tpl, origin: tplOrigin } = await datasetWithOrigin(sandbox, 'tpl', { 'a.dat': 'alpha\n' });
    const env = { ...sandbox.env, ANNEXD_STATE_DIR: join(sandbox.dir, 'state') };
    const stateDir = env.ANNEXD_STATE_DIR;
    // Copies of one dataset (cp -a is much faster than 50 git annex init), each with its own origin and its own commit.
    const sets: Array<{ ds: AnnexRepo; origin: string }> = [];
    const make = async (i: number): Promise<{ ds: AnnexRepo; origin: string }> => {
      const path = join(sandbox.dir, `ds${i}`);
      const origin = join(sandbox.dir, `origin${i}.git`);
      await run('cp', ['-a', tpl.path, path]);
      await run('cp', ['-a', tplOrigin, origin]);
      const ds = new AnnexRepo(path, sandbox.env);
      await ds.ok('git', 'config', 'remote.origin.url', origin);
      // Its own store too: 50 datasets copying the same key into one directory remote at once would race on its temp files.
      const store = join(sandbox.dir, `store${i}`);
      await mkdir(store);
      await ds.ok('git', 'annex', 'enableremote', 'store', `directory=${store}`);
      await ds.write(`own${i}.dat`, `dataset ${i}\n`);
      await ds.ok('git', 'annex', 'add', '--quiet', `own${i}.dat`);
      await ds.ok('git', 'commit', '-q', '-m', `own ${i}`);
      const add = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--on-change'], env);
      expect(add.code, add.stderr).toBe(0);
      return { ds, origin };
    };
    // Four at a time (two cores; sync add takes the state file's lock, so they also test it).
    for (let i = 0; i < COUNT; i += 4) sets.push(...(await Promise.all([i, i + 1, i + 2, i + 3].filter((j) => j < COUNT).map(make))));
    daemon = await startDaemon(env);
    let mostAtOnce = 0;
    await eventually('all 50 synced', async () => {
      const s = await readSyncs(stateDir);
      mostAtOnce = Math.max(mostAtOnce, s.filter((e) => e.lastResult === 'running').length);
      if (s.some((e) => e.lastResult === 'failed')) throw new Error(`a sync failed: ${s.find((e) => e.lastResult === 'failed')?.lastError}`);
      return s.length === COUNT && s.every((e) => e.lastResult === 'ok');
    }, 300_000);
    expect(mostAtOnce).toBeLessThanOrEqual(4);
    for (const { ds, origin } of sets) expect(await refOf(origin, 'refs/heads/main', env)).toBe(await refOf(ds.path, 'HEAD', env));
    const status = await annexd(sets[0]!.ds, ['status', '--json'], env);
    expect((JSON.parse(status.stdout) as { syncs: unknown[] }).syncs).toHaveLength(COUNT);

    const gone = sets[7]!.ds.path;
    await rm(gone, { recursive: true });
    const now = await annexd(sets[0]!.ds, ['sync', 'now', gone], env);
    expect(now.code, now.stderr).toBe(0);
    await eventually('the removed dataset to fail', async () => (await readSyncs(stateDir)).find((e) => e.path === gone)?.lastResult === 'failed');
    expect((await readSyncs(stateDir)).find((e) => e.path === gone)?.lastError).toMatch(/ds7 does not exist \(the dataset was removed or moved; "annexd sync add NEWPATH --to origin" moves its sync along, "annexd sync remove .*ds7" stops it\)$/);
    expect((await readSyncs(stateDir)).filter((e) => e.path !== gone).every((e) => e.lastResult === 'ok')).toBe(true);
    // Making 50 datasets and syncing them takes minutes on a loaded 2-core machine: a bound, not a speed claim.
  }, 600_000);
});

/**
 * A full disk, for real: small tmpfs file systems mounted by the test (it
 * runs as root, here and in CI) and filled. The state directory full:
 * `sync add` and `serve` say so in one line and syncs.json stays as it was; a
 * running daemon shows the problem, reports nothing synced, and catches up
 * once there is room. The dataset's own file system full: git-annex fails,
 * the error is kept and shown, nothing is reported synced; room again, and
 * the next sync goes through.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { annexd, bareSibling, directoryRemote, refOf, whereis } from '../support/push.js';
import { annexdAt, daemonStatus, datasetWithOrigin, eventually, readSyncs, startDaemon, type Daemon } from '../support/daemon.js';

let sandbox: Sandbox;
const mounts: string[] = [];
const daemons: Daemon[] = [];

/** A tmpfs of `size` (e.g. "512k") at a new directory; fails saying what is needed when it cannot be mounted. */
function tmpfs(name: string, size: string): string {
  const dir = join(sandbox.dir, name);
  spawnSync('mkdir', ['-p', dir]);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `this test fills a small tmpfs to get a real full disk: it must run as root (or with CAP_SYS_ADMIN) with mount(8); "mount -t tmpfs" said: ${(r.stderr || r.error?.message || '').trim()}`,
    );
  }
  mounts.push(dir);
  return dir;
}

/** Fills the file system of `dir` so that `leave` bytes stay free; returns the filler's path. */
async function fill(dir: string, leave = 0): Promise<string> {
  const filler = join(dir, 'filler');
  const st = await statfs(dir);
  await writeFile(filler, Buffer.alloc(Math.max(0, st.bavail * st.bsize - leave)));
  // Whatever rounding is left, take it too (leave = 0: nothing at all).
  if (leave === 0) await writeFile(filler, Buffer.alloc(st.bsize), { flag: 'a' }).catch(() => undefined);
  return filler;
}

beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(async () => {
  for (const d of daemons) await d.stop();
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  await sandbox?.cleanup();
});

const started = async (env: NodeJS.ProcessEnv): Promise<Daemon> => {
  const d = await startDaemon(env);
  daemons.push(d);
  return d;
};

describe('the state directory on a full disk', () => {
  it('sync add says so in one line, syncs.json stays as it was (no lock or temp file left), and works once there is room', async () => {
    const mnt = tmpfs('state-fs', '256k');
    const stateDir = join(mnt, 'state');
    const { ds } = await datasetWithOrigin(sandbox, 'cli', { 'a.dat': 'alpha\n' });
    const env = { ANNEXD_STATE_DIR: stateDir };
    expect((await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env)).code).toBe(0);
    const before = await readFile(join(stateDir, 'syncs.json'), 'utf8');

    // Full to the last page: the lock file cannot be written. One page left: the lock is, the new state is not.
    for (const leave of [0, 4096]) {
      const filler = await fill(mnt, leave);
      const r = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--every', '1h'], env);
      expect(r.code, `leave ${leave}`).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`^annexd: cannot save ${stateDir}/syncs\\.json: the file system of ${stateDir} is full \\(.*ENOSPC: no space left on device.*\\); the file is kept as it was\\n$`),
      );
      expect(await readFile(join(stateDir, 'syncs.json'), 'utf8')).toBe(before);
      expect(await readdir(stateDir)).toEqual(['syncs.json']);
      // Reading needs no room.
      expect((await annexd(ds, ['sync', 'list'], env)).stdout).toMatch(/-> origin\n {2}never synced/);
      await rm(filler);
    }
    const ok = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--every', '1h'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await readSyncs(stateDir))[0]).toMatchObject({ sibling: 'origin' });
    expect(JSON.parse(await readFile(join(stateDir, 'syncs.json'), 'utf8')).syncs[0].everyMs).toBe(3_600_000);

    const filler = await fill(mnt);
    const serve = await annexd(ds, ['serve', '--port', '0'], { ...sandbox.env, ...env });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(new RegExp(`^annexd: cannot start: the file system of ${stateDir} is full \\(.*ENOSPC.*\\)\\n$`));
    await rm(filler);
  });

  it('a running daemon shows the problem, reports nothing synced, and catches up once there is room', async () => {
    const mnt = tmpfs('daemon-state-fs', '512k');
    const stateDir = join(mnt, 'state');
    const { ds, origin } = await datasetWithOrigin(sandbox, 'daemon', { 'a.dat': 'alpha\n' });
    const env = { ...sandbox.env, ANNEXD_STATE_DIR: stateDir };
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--on-change'], env);
    const d = await started(env);
    await eventually('the first sync', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    const onDisk = await readFile(join(stateDir, 'syncs.json'), 'utf8');
    const firstHead = await refOf(origin, 'refs/heads/main', env);

    const filler = await fill(mnt);
    await ds.write('b.dat', 'beta\n');
    await ds.ok('git', 'annex', 'add', '--quiet', 'b.dat');
    await ds.ok('git', 'commit', '-q', '-m', 'b');
    const head = await refOf(ds.path, 'HEAD', env);
    await eventually('the problem shown', async () => /is full/.test((await daemonStatus(env)).stateError ?? ''));
    const s = await daemonStatus(env);
    expect(s.stateError).toMatch(/^\S+: cannot record the sync of .*daemon -> origin: cannot save .*syncs\.json: the file system of .* is full \(.*ENOSPC.*\); the file is kept as it was$/);
    expect(s.syncs[0]).toMatchObject({ lastResult: 'failed' });
    expect(s.syncs[0]!.lastError).toMatch(/is full .*\(this sync is redone once the state can be saved\)$/);
    expect(d.stderr()).toMatch(/^annexd serve: cannot record the sync of .*: cannot save .*is full/m);
    const text = await annexdAt(sandbox.dir, ['status'], env);
    expect(text.stdout).toMatch(/^state file problem: .*is full/m);
    expect(text.stdout).toMatch(/-> origin: failed\n/);
    // Nothing was started that could not be recorded; the old record is untouched.
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(firstHead);
    expect(await readFile(join(stateDir, 'syncs.json'), 'utf8')).toBe(onDisk);

    await rm(filler);
    await eventually('the sync done and saved', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok' && (await refOf(origin, 'refs/heads/main', env)) === head);
    expect(await whereis(ds, 'b.dat')).toEqual(['origin', 'store']);
    await eventually('the problem shown as over', async () => /; saved again at \S+$/.test((await daemonStatus(env)).stateError ?? ''));
    expect((await readdir(stateDir)).sort()).toEqual(['progress.sock', 'serve.json', 'serve.lock', 'syncs.json']);
    await d.stop();
  });
});

describe('the dataset on a full disk', () => {
  it('git-annex fails: the error is kept and shown, nothing is reported synced; with room again the sync goes through', async () => {
    const mnt = tmpfs('dataset-fs', '8m');
    const ds = await AnnexRepo.create({ ...sandbox, dir: mnt }, 'ds');
    await ds.write('big.dat', 'x'.repeat(200_000));
    await ds.ok('git', 'annex', 'add', '--quiet', 'big.dat');
    await ds.ok('git', 'commit', '-q', '-m', 'big');
    await directoryRemote(ds, sandbox, 'store');
    const origin = await bareSibling(sandbox, 'full-origin');
    expect((await annexd(ds, ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 'store'])).code).toBe(0);
    const stateDir = join(sandbox.dir, 'state-dsfull');
    await mkdir(stateDir);
    const env = { ...sandbox.env, ANNEXD_STATE_DIR: stateDir };
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
    const filler = await fill(mnt);

    const d = await started(env);
    await eventually('the failure recorded', async () => (await readSyncs(stateDir))[0]?.lastResult === 'failed');
    const e = (await readSyncs(stateDir))[0]!;
    // Content goes to origin and to store (its publish-depends); which fails first varies.
    expect(e.lastError).toMatch(/^copy big\.dat to (store|origin): .*No space left on device/);
    expect(e.failures).toBe(1);
    await eventually('the failure logged', () => /-> origin: failed: copy big\.dat to (store|origin): .*No space left on device/.test(d.stderr()));
    expect((await annexd(ds, ['status'], env)).stdout).toMatch(/^ {2}error: copy big\.dat to (store|origin): .*No space left on device/m);
    expect(await refOf(origin, 'refs/heads/main', env)).toBe('');

    await rm(filler);
    expect((await annexd(ds, ['sync', 'now', '.'], env)).code).toBe(0);
    await eventually('the sync after room came back', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(await refOf(ds.path, 'HEAD', env));
    expect(await whereis(ds, 'big.dat')).toEqual(['origin', 'store']);
    const fsck = await ds.run('git', ['annex', 'fsck', '--from', 'store', '--quiet']);
    expect(fsck.code, fsck.stderr).toBe(0);
    await d.stop();
  });
});

/**
 * annexd serve as a real process on real git-annex datasets with a bare git
 * sibling and a directory special remote it depends on: the first sync,
 * --on-change after a commit, a failure kept with its error and backed off,
 * a second daemon refused, --pull, kill -9 mid-sync then restart (redone,
 * fsck --from clean), SIGTERM stopping a sync in flight.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, type Sandbox } from '../support/annex.js';
import { annexd, refOf, whereis } from '../support/push.js';
import { datasetWithOrigin, eventually, readSyncs, useDaemonSandbox, type Daemon } from '../support/daemon.js';

const suite = useDaemonSandbox();
let sandbox: Sandbox;
beforeAll(() => {
  sandbox = suite.sandbox;
});

let n = 0;
/** A dataset with an origin (bare) that depends on a directory remote "store"; its own state directory. */
async function setup(name: string, hook?: string): Promise<{ ds: AnnexRepo; origin: string; env: NodeJS.ProcessEnv; stateDir: string }> {
  const { ds, origin } = await datasetWithOrigin(sandbox, name, { 'a.dat': `alpha ${name}\n`, 'b.dat': `beta ${name}\n` }, hook);
  const stateDir = join(sandbox.dir, `state-${name}-${++n}`);
  return { ds, origin, env: { ...sandbox.env, ANNEXD_STATE_DIR: stateDir }, stateDir };
}

const started = (env: NodeJS.ProcessEnv, args: string[] = []): Promise<Daemon> => suite.start(env, args);

describe('annexd serve', () => {
  it('syncs at start-up (content to the dependency, then git), again after a commit (--on-change); a second daemon is refused', async () => {
    const { ds, origin, env, stateDir } = await setup('first');
    const add = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--on-change'], env);
    expect(add.code, add.stderr).toBe(0);
    const d = await started(env);
    expect((await stat(join(stateDir, 'serve.json'))).mode & 0o777).toBe(0o600);
    expect(d.info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await eventually('the first sync', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(await refOf(ds.path, 'HEAD', env));
    expect(await whereis(ds, 'a.dat')).toEqual(['origin', 'store']);
    const entry = (await readSyncs(stateDir))[0]!;
    expect(entry.nextDue).toBeUndefined(); // no --every: waits for a change
    expect(d.stderr()).toMatch(/sync .*first -> origin: ok/);
    expect(d.stderr()).not.toContain(d.info.token);

    const second = await annexd(ds, ['serve', '--port', '0'], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^annexd: an annexd daemon is already running on .* \\(pid ${d.info.pid}, http://127\\.0\\.0\\.1:\\d+\\); stop it first$`, 'm'));

    await ds.write('c.dat', 'gamma\n');
    await ds.ok('git', 'annex', 'add', '--quiet', 'c.dat');
    await ds.ok('git', 'commit', '-q', '-m', 'c');
    const head = await refOf(ds.path, 'HEAD', env);
    await eventually('the commit on origin', async () => (await refOf(origin, 'refs/heads/main', env)) === head);
    await eventually('the sync after the commit recorded', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    expect(await whereis(ds, 'c.dat')).toEqual(['origin', 'store']);
    expect(await d.stop()).toBe(0);
    expect(existsSync(join(stateDir, 'serve.json'))).toBe(false);
  });

  it('a running daemon follows the CLI: sync add syncs at once, pause and remove are seen', async () => {
    const { ds, origin, env, stateDir } = await setup('follow');
    const d = await started(env);
    const add = await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
    expect(add.code, add.stderr).toBe(0);
    await eventually('the sync of the added dataset', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(await refOf(ds.path, 'HEAD', env));
    await annexd(ds, ['sync', 'pause', '.'], env);
    await eventually('the daemon to see the pause', async () => (await annexd(ds, ['status'], env)).stdout.includes('origin: paused'));
    const now = await annexd(ds, ['sync', 'now', '.'], env);
    expect(now.code).toBe(1);
    expect(now.stderr).toMatch(/^annexd: the syncs of .*follow are paused \(resume with "annexd sync resume .*follow"\)$/m);
    // A state file broken behind the daemon's back: kept aside, reported, and the daemon's last good list written back.
    await writeFile(join(stateDir, 'syncs.json'), 'garbage');
    await eventually('the list written back', async () => (await readSyncs(stateDir)).length === 1);
    expect((await readdir(stateDir)).some((f) => f.startsWith('syncs.json.corrupt-'))).toBe(true);
    const st = await annexd(ds, ['status'], env);
    expect(st.stdout).toMatch(/^state file problem: .*syncs\.json is not valid JSON .*moved aside to .*; the daemon wrote back the list it had \(1 sync\)$/m);
    expect((await readSyncs(stateDir))[0]?.paused).toBe(true);
    await annexd(ds, ['sync', 'remove', '.'], env);
    await eventually('the daemon to see the removal', async () => (await annexd(ds, ['status'], env)).stdout.includes('no syncs'));
    await d.stop();
  });

  it('a failing sync keeps its error and backs off; sync now through the running daemon', async () => {
    const { ds, origin, env, stateDir } = await setup('failing');
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
    await rm(origin, { recursive: true });
    const d = await started(env);
    await eventually('the failure recorded', async () => (await readSyncs(stateDir))[0]?.lastResult === 'failed');
    const e = (await readSyncs(stateDir))[0]!;
    expect(e.failures).toBe(1);
    expect(e.lastError).toMatch(/origin/);
    // Backoff: the first retry 30 s ± 25 % later.
    const wait = Date.parse(e.nextDue!) - Date.parse(e.lastEnd!);
    expect(wait).toBeGreaterThanOrEqual(22_000);
    expect(wait).toBeLessThanOrEqual(38_000);
    const list = await annexd(ds, ['sync', 'list'], env);
    expect(list.stdout).toMatch(/last: failed at .* \(.*origin.*\); next: /);

    await bareSiblingAt(origin, env);
    const now = await annexd(ds, ['sync', 'now', '.'], env);
    expect(now.code, now.stderr).toBe(0);
    expect(now.stdout).toMatch(/^queued 1 sync$/m);
    await eventually('the retry asked for', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    const ok = (await readSyncs(stateDir))[0]!;
    expect(ok.failures).toBe(0);
    expect(ok.lastError).toBeUndefined();
    await d.stop();
  });

  it('a sibling removed after sync add: the sync fails naming it and what to do; nothing is pushed', async () => {
    const { ds, env, stateDir, origin } = await setup('nosibling');
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
    await ds.ok('git', 'remote', 'remove', 'origin');
    const d = await started(env);
    await eventually('the failure recorded', async () => (await readSyncs(stateDir))[0]?.lastResult === 'failed');
    expect((await readSyncs(stateDir))[0]!.lastError).toBe(
      `${ds.path} has no sibling "origin" any more (its siblings: store); add it back, or stop this sync with "annexd sync remove ${ds.path} --to origin"`,
    );
    expect((await annexd(ds, ['status'], env)).stdout).toMatch(/^ {2}error: .* has no sibling "origin" any more/m);
    expect(await refOf(origin, 'refs/heads/main', env)).toBe('');
    await d.stop();
  });

  it('--pull merges what the sibling has before pushing', async () => {
    const { ds, origin, env, stateDir } = await setup('pull');
    await ds.ok('git', 'push', '-q', 'origin', 'main');
    const other = await AnnexRepo.clone(sandbox, new AnnexRepo(origin, env), 'pull-other');
    await other.write('theirs.txt', 'from elsewhere\n');
    await other.ok('git', 'add', 'theirs.txt');
    await other.ok('git', 'commit', '-q', '-m', 'theirs');
    await other.ok('git', 'push', '-q', 'origin', 'main');
    const theirs = await refOf(other.path, 'HEAD', env);
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--pull'], env);
    const d = await started(env);
    await eventually('the sync', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    expect((await ds.ok('git', 'merge-base', '--is-ancestor', theirs, 'HEAD')).code).toBe(0);
    expect(await readFile(join(ds.path, 'theirs.txt'), 'utf8')).toBe('from elsewhere\n');
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(await refOf(ds.path, 'HEAD', env));
    await d.stop();
  });

  it('kill -9 mid-sync: the state says running, never ok; the restarted daemon redoes it and fsck --from is clean', async () => {
    const gate = join(sandbox.dir, 'kill-gate');
    // The refs arrive at origin only once the gate file exists: the sync is held mid-way (content copied, git push waiting).
    const { ds, origin, env, stateDir } = await setup('kill', `while [ ! -e '${gate}' ]; do sleep 0.1; done; cat >/dev/null`);
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
    const d = await started(env);
    await eventually('the sync to be running', async () => (await readSyncs(stateDir))[0]?.lastResult === 'running');
    d.proc.kill('SIGKILL');
    await d.exited;
    expect((await readSyncs(stateDir))[0]?.lastResult).toBe('running');
    await writeFile(gate, '');
    const again = await started(env);
    await eventually('the sync redone', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(await refOf(ds.path, 'HEAD', env));
    const fsck = await ds.run('git', ['annex', 'fsck', '--from', 'store', '--json']);
    expect(fsck.code, fsck.stderr).toBe(0);
    const results = fsck.stdout.trim().split('\n').map((l) => JSON.parse(l) as { success: boolean; file: string });
    expect(results.map((r) => r.file).sort()).toEqual(['a.dat', 'b.dat']);
    expect(results.every((r) => r.success)).toBe(true);
    await again.stop();
  });

  it('SIGTERM stops a sync in flight (its git push ended, not waited for) and records it as interrupted, to redo', async () => {
    const done = join(sandbox.dir, 'term-hook-done');
    const { ds, origin, env, stateDir } = await setup('term', `sleep 60; touch '${done}'`);
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
    const d = await started(env);
    await eventually('the sync to be running', async () => (await readSyncs(stateDir))[0]?.lastResult === 'running');
    await new Promise((r) => setTimeout(r, 300));
    expect(await d.stop()).toBe(0);
    expect(existsSync(done)).toBe(false);
    const e = (await readSyncs(stateDir))[0]!;
    expect(e.lastResult).toBe('interrupted');
    expect(e.nextDue).toBeDefined();
    expect(await refOf(origin, 'refs/heads/main', env)).toBe('');
    expect(d.stderr()).toMatch(/SIGTERM: stopping the running syncs/);
  });
});

/** Recreates a removed bare sibling at the same path. */
async function bareSiblingAt(path: string, env: NodeJS.ProcessEnv): Promise<void> {
  await mkdir(path, { recursive: true });
  const r = new AnnexRepo(path, env);
  await r.ok('git', 'init', '-q', '--bare');
  await r.ok('git', 'annex', 'init', '-q', 'origin');
}

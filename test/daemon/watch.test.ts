/**
 * --on-change with a real annexd serve on real datasets: the working tree is
 * watched (uncommitted changes shown, new directories followed, never
 * committed by the daemon), a commit syncs; past ANNEXD_WATCH_MAX_DIRS the
 * tree is polled and the status says so; a dataset removed while watched is
 * shown missing and watched again once it is back.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../support/annex.js';
import { annexd, refOf } from '../support/push.js';
import { countStatus } from '../../src/daemon/watch.js';
import { annexdAt, datasetWithOrigin, daemonStatus, eventually, readSyncs, useDaemonSandbox } from '../support/daemon.js';

const suite = useDaemonSandbox();
let sandbox: Sandbox;
beforeAll(() => {
  sandbox = suite.sandbox;
});

async function setup(name: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const { ds, origin } = await datasetWithOrigin(sandbox, name, { 'a.dat': `alpha ${name}\n` });
  const stateDir = join(sandbox.dir, `state-${name}`);
  const env = { ...sandbox.env, ANNEXD_STATE_DIR: stateDir, ...extraEnv };
  const add = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--on-change'], env);
  expect(add.code, add.stderr).toBe(0);
  const d = await suite.start(env);
  await eventually('the first sync', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
  return { ds, origin, env, stateDir, d };
}

describe('countStatus', () => {
  it('counts the entries of git status -z, a rename or copy with its old name as one', () => {
    expect(countStatus('')).toBe(0);
    expect(countStatus(' M a b.txt\0?? new/\0R  moved.txt\0old.txt\0C  copy\0orig\0 D gone\0')).toBe(5);
  });
});

describe('--on-change and the working tree', () => {
  it('shows uncommitted changes (also in a directory made after the start), never commits them, and syncs after the commit', async () => {
    const { ds, origin, env, stateDir, d } = await setup('tree');
    await eventually('the tree looked at', async () => (await daemonStatus(env)).syncs[0]?.worktree?.uncommitted === 0);
    expect((await annexd(ds, ['status'], env)).stdout).toMatch(/^ {2}working tree: clean$/m);
    const synced = (await readSyncs(stateDir))[0]!.lastEnd;

    await ds.write('notes.txt', 'draft\n');
    await eventually('one uncommitted change', async () => (await daemonStatus(env)).syncs[0]?.worktree?.uncommitted === 1);
    // A directory made now, and a file changed deep inside it: its watch was added when it appeared.
    await mkdir(join(ds.path, 'new', 'deeper'), { recursive: true });
    await ds.write('new/deeper/x.dat', 'x\n');
    await eventually('the new directory seen', async () => (await daemonStatus(env)).syncs[0]?.worktree?.uncommitted === 2);
    await ds.ok('git', 'add', 'notes.txt');
    await ds.ok('git', 'commit', '-q', '-m', 'notes');
    const notesCommit = await refOf(ds.path, 'HEAD', env);
    await eventually('the commit synced', async () => (await refOf(origin, 'refs/heads/main', env)) === notesCommit);
    await ds.ok('git', 'annex', 'add', '--quiet', 'new/deeper/x.dat');
    await eventually('the staged file counted', async () => (await daemonStatus(env)).syncs[0]?.worktree?.uncommitted === 1);
    // Edited but not committed: not pushed, not committed by the daemon.
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(notesCommit);
    expect(await refOf(ds.path, 'HEAD', env)).toBe(notesCommit);
    const st = await annexd(ds, ['status'], env);
    expect(st.stdout).toMatch(/^ {2}working tree: 1 uncommitted change \(not synced until committed\)$/m);

    await ds.ok('git', 'commit', '-q', '-m', 'x');
    const head = await refOf(ds.path, 'HEAD', env);
    await eventually('the second commit synced', async () => (await refOf(origin, 'refs/heads/main', env)) === head);
    await eventually('the tree clean again', async () => (await daemonStatus(env)).syncs[0]?.worktree?.uncommitted === 0);
    expect((await readSyncs(stateDir))[0]!.lastEnd).not.toBe(synced);
    // Edits alone started no sync: one at start-up, one per commit.
    expect(d.stderr().match(/: started$/gm)).toHaveLength(3);
  });

  it('a tree with more directories than ANNEXD_WATCH_MAX_DIRS is polled, and the status says so', async () => {
    const { ds, env, origin } = await setup('big', { ANNEXD_WATCH_MAX_DIRS: '2', ANNEXD_WATCH_POLL: '1' });
    for (const sub of ['d1', 'd2', 'd3']) await mkdir(join(ds.path, sub));
    await eventually('polled', async () => (await daemonStatus(env)).syncs[0]?.worktree?.mode === 'polled');
    const w = (await daemonStatus(env)).syncs[0]!.worktree!;
    expect(w.note).toBe('more than 2 directories (ANNEXD_WATCH_MAX_DIRS)');
    await ds.write('d3/f.txt', 'f\n');
    await eventually('the change seen by polling', async () => (await daemonStatus(env)).syncs[0]?.worktree?.uncommitted === 1);
    const st = await annexd(ds, ['status'], env);
    expect(st.stdout).toMatch(/^ {2}working tree: 1 uncommitted change \(not synced until committed\); not watched \(more than 2 directories \(ANNEXD_WATCH_MAX_DIRS\)\), looked at every 1s$/m);
    // The refs are still watched: a commit still syncs.
    await ds.ok('git', 'add', 'd3/f.txt');
    await ds.ok('git', 'commit', '-q', '-m', 'f');
    const head = await refOf(ds.path, 'HEAD', env);
    await eventually('the commit synced', async () => (await refOf(origin, 'refs/heads/main', env)) === head);
  });

  it('a dataset removed while watched is shown missing, its sync fails saying so, and it is watched again once back', async () => {
    const { ds, env, stateDir, origin } = await setup('gone', { ANNEXD_WATCH_POLL: '1' });
    const away = `${ds.path}-away`;
    await rename(ds.path, away);
    await eventually('shown missing', async () => (await daemonStatus(env)).syncs[0]?.worktree?.mode === 'gone');
    expect((await annexdAt(sandbox.dir, ['sync', 'now', ds.path], env)).code).toBe(0);
    await eventually('the failure recorded', async () => (await readSyncs(stateDir))[0]?.lastResult === 'failed');
    expect((await readSyncs(stateDir))[0]!.lastError).toBe(
      `${ds.path} does not exist (the dataset was removed or moved; "annexd sync add NEWPATH --to origin" moves its sync along, "annexd sync remove ${ds.path}" stops it)`,
    );
    expect((await annexdAt(sandbox.dir, ['status'], env)).stdout).toMatch(/^ {2}working tree: the dataset directory is missing \(removed or moved\)$/m);
    await rename(away, ds.path);
    await eventually('watched again', async () => (await daemonStatus(env)).syncs[0]?.worktree?.mode === 'watched');
    await writeFile(join(ds.path, 'back.txt'), 'back\n');
    await eventually('changes seen again', async () => (await daemonStatus(env)).syncs[0]?.worktree?.uncommitted === 1);
    await ds.ok('git', 'add', 'back.txt');
    await ds.ok('git', 'commit', '-q', '-m', 'back');
    const head = await refOf(ds.path, 'HEAD', env);
    await eventually('the commit synced', async () => (await refOf(origin, 'refs/heads/main', env)) === head);
  });
});

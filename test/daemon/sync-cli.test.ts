/**
 * annexd sync add|list|remove|pause|resume|now and the state file, on real
 * git-annex datasets: validation, the state directory's rules, a corrupt
 * state file kept aside and reported.
 */
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { annexd, bareSibling, dataset } from '../support/push.js';
import { parseDuration, stateDir } from '../../src/daemon/state.js';

let sandbox: Sandbox;
let ds: AnnexRepo;
let env: NodeJS.ProcessEnv;
let dir: string;
beforeAll(async () => {
  sandbox = await createSandbox();
  dir = join(sandbox.dir, 'state');
  env = { ANNEXD_STATE_DIR: dir };
  ds = await dataset(sandbox, 'ds', { 'a.dat': 'alpha\n' });
  const origin = await bareSibling(sandbox, 'origin');
  await ds.ok('git', 'remote', 'add', 'origin', origin);
});
afterAll(() => sandbox?.cleanup());

async function readJsonLines(repo: AnnexRepo, e: NodeJS.ProcessEnv): Promise<Array<Record<string, unknown>>> {
  const r = await annexd(repo, ['sync', 'list', '--json'], e);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('state directory', () => {
  it('ANNEXD_STATE_DIR, else XDG_STATE_HOME/annexd, else ~/.local/state/annexd', () => {
    expect(stateDir({ ANNEXD_STATE_DIR: '/x/y', XDG_STATE_HOME: '/s', HOME: '/h' })).toBe('/x/y');
    expect(stateDir({ XDG_STATE_HOME: '/s', HOME: '/h' })).toBe('/s/annexd');
    expect(stateDir({ HOME: '/h' })).toBe('/h/.local/state/annexd');
  });
  it('durations', () => {
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('5 minutes')).toThrow(/not a duration/);
    expect(() => parseDuration('0s')).toThrow(/not a duration/);
  });
});

describe('annexd sync', () => {
  it('add validates the dataset and the sibling; list shows it; the state is 0600 in a 0700 directory', async () => {
    const notRepo = join(sandbox.dir, 'plain');
    await mkdir(notRepo);
    const a = await annexd(ds, ['sync', 'add', notRepo, '--to', 'origin'], env);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^annexd: no dataset found at .*plain/m);
    const gitOnly = join(sandbox.dir, 'gitonly');
    await mkdir(gitOnly);
    await ds.run('git', ['-C', gitOnly, 'init', '-q']);
    const g = await annexd(ds, ['sync', 'add', gitOnly, '--to', 'origin'], env);
    expect(g.stderr).toMatch(/is not a git-annex repository/);
    const u = await annexd(ds, ['sync', 'add', '.', '--to', 'nosuch'], env);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/has no sibling "nosuch" \(its siblings: origin\)/);
    const bad = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--every', 'often'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--every: "often" is not a duration/);
    // Nothing written by the refusals.
    await expect(stat(join(dir, 'syncs.json'))).rejects.toThrow(/ENOENT/);

    const ok = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--every', '5m', '--on-change'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^added: .*\/ds -> origin \[every 5m, on change\]$/m);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'syncs.json'))).mode & 0o777).toBe(0o600);

    const list = await annexd(ds, ['sync', 'list', '--json'], env);
    const entries = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ path: ds.path, sibling: 'origin', everyMs: 300_000, onChange: true, pull: false, paused: false, data: 'auto-if-wanted' });
    // Adding again updates, never duplicates.
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--pull'], env);
    const again = (await annexd(ds, ['sync', 'list', '--json'], env)).stdout.trim().split('\n');
    expect(again).toHaveLength(1);
    expect(JSON.parse(again[0]!)).toMatchObject({ pull: true, onChange: false });
    expect(JSON.parse(again[0]!).everyMs).toBeUndefined();
  });

  it('pause, resume, remove; now says clearly that no daemon runs', async () => {
    await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
    expect((await annexd(ds, ['sync', 'pause'], env)).stdout).toMatch(/paused 1 sync/);
    expect((await annexd(ds, ['sync', 'list'], env)).stdout).toMatch(/paused$/m);
    expect((await annexd(ds, ['sync', 'resume', '.'], env)).stdout).toMatch(/resumed 1 sync/);
    const now = await annexd(ds, ['sync', 'now'], env);
    expect(now.code).toBe(1);
    expect(now.stderr).toMatch(/^annexd: no annexd daemon is running on .*state, so nothing syncs now \(start one with "annexd serve"\)$/m);
    const wrong = await annexd(ds, ['sync', 'remove', '.', '--to', 'other'], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/no sync of .* to other/);
    expect((await annexd(ds, ['sync', 'remove', '.'], env)).stdout).toMatch(/removed 1 sync of/);
    expect((await annexd(ds, ['sync', 'list'], env)).stdout).toMatch(/^no syncs/);
  });

  it('more bad input: a missing path, a file, --every 0 or too short; adding twice keeps a pause; a moved dataset takes its sync along', async () => {
    const env2 = { ANNEXD_STATE_DIR: join(sandbox.dir, 'state-more') };
    const missing = await annexd(ds, ['sync', 'add', join(sandbox.dir, 'nowhere'), '--to', 'origin'], env2);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`annexd: ${join(sandbox.dir, 'nowhere')} does not exist\n`);
    for (const [every, message] of [
      ['0', '--every: "0" is not a duration (examples: 30s, 5m, 2h, 1d, 1h30m)'],
      ['0.0001s', '--every must be at least 10s, not "0.0001s"'],
      ['5s', '--every must be at least 10s, not "5s"'],
    ] as const) {
      const r = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--every', every], env2);
      expect(r.code, every).toBe(2);
      expect(r.stderr).toBe(`annexd: ${message} (see annexd sync --help)\n`);
    }
    await expect(stat(join(env2.ANNEXD_STATE_DIR, 'syncs.json'))).rejects.toThrow(/ENOENT/);
    // A file names the dataset it is in.
    const file = await annexd(ds, ['sync', 'add', 'README.md', '--to', 'origin'], env2);
    expect(file.code, file.stderr).toBe(0);
    expect(file.stdout).toBe(`added: ${ds.path} -> origin\n`);
    await annexd(ds, ['sync', 'pause', '.'], env2);
    const twice = await annexd(ds, ['sync', 'add', '.', '--to', 'origin', '--every', '1h'], env2);
    expect(twice.stdout).toBe(`updated: ${ds.path} -> origin [every 1h]\nit stays paused: "annexd sync resume ${ds.path}" resumes it\n`);
    expect((await annexd(ds, ['sync', 'list', '--json'], env2)).stdout.trim().split('\n')).toHaveLength(1);

    // Moved: the same repository (annex.uuid) at a new path, the old one gone.
    const mover = await dataset(sandbox, 'mover', { 'm.dat': 'm\n' });
    await mover.ok('git', 'remote', 'add', 'origin', await bareSibling(sandbox, 'mover-origin'));
    expect((await annexd(mover, ['sync', 'add', '.', '--to', 'origin'], env2)).code).toBe(0);
    const addedAt = (await readJsonLines(mover, env2)).find((e) => e.path === mover.path)?.addedAt;
    const moved = new AnnexRepo(`${mover.path}-moved`, mover.env);
    await rename(mover.path, moved.path);
    const r = await annexd(moved, ['sync', 'add', '.', '--to', 'origin'], env2);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`moved: ${mover.path} (no longer there) is now ${moved.path} -> origin\n`);
    const after = await readJsonLines(moved, env2);
    expect(after.map((e) => e.path).sort()).toEqual([ds.path, moved.path].sort());
    expect(after.find((e) => e.path === moved.path)?.addedAt).toBe(addedAt);
  });

  it('a corrupt state file is moved aside and reported, never silently reset', async () => {
    const d = join(sandbox.dir, 'corrupt-state');
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'syncs.json'), '{"format": "annexd-sync-state", "version": 1, "syncs": [');
    const r = await annexd(ds, ['sync', 'list'], { ANNEXD_STATE_DIR: d });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/syncs\.json is not valid JSON .*moved aside to .*syncs\.json\.corrupt-/);
    const aside = (await readdir(d)).filter((f) => f.startsWith('syncs.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(await readFile(join(d, aside[0]!), 'utf8')).toMatch(/"syncs": \[$/);
  });

  it('an entry lacking a field is moved aside naming it; a newer annexd\'s file stays where it is; a state "directory" that is a file is named', async () => {
    const d = join(sandbox.dir, 'odd-state');
    await mkdir(d, { recursive: true });
    const e = { ANNEXD_STATE_DIR: d };
    await writeFile(join(d, 'syncs.json'), '{"format": "annexd-sync-state", "version": 1, "syncs": [{"path": "/x"}]}');
    const bad = await annexd(ds, ['sync', 'list'], e);
    expect(bad.stderr).toMatch(/^annexd: .*syncs\.json is not a valid sync state file \(sync entry 1 of 1 lacks path, sibling or a setting\): moved aside to .*\.corrupt-/);
    const newer = '{"format": "annexd-sync-state", "version": 2, "syncs": []}';
    await writeFile(join(d, 'syncs.json'), newer);
    for (const args of [['sync', 'list'], ['sync', 'add', '.', '--to', 'origin']]) {
      const r = await annexd(ds, args, e);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`annexd: ${d}/syncs.json is of version 2, written by a newer annexd than this one (which knows version 1): use that annexd, or another ANNEXD_STATE_DIR\n`);
      expect(await readFile(join(d, 'syncs.json'), 'utf8')).toBe(newer);
    }
    const file = join(sandbox.dir, 'a-file');
    await writeFile(file, 'not a directory\n');
    for (const args of [['sync', 'list'], ['sync', 'add', '.', '--to', 'origin'], ['serve', '--port', '0']]) {
      const r = await annexd(ds, args, { ANNEXD_STATE_DIR: file });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toBe(`annexd: the state directory ${file} is not a directory (set ANNEXD_STATE_DIR to a directory, or move that file away)\n`);
    }
  });
});

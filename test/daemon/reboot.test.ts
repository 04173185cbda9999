/**
 * What a reboot (or the OOM killer taking the session) leaves behind, for
 * real: the daemon and its whole process tree (git, git-annex, the annexd
 * WebDAV remote mid-upload to lighttpd) frozen and SIGKILLed at once, the
 * runtime directories emptied, serve.json naming a dead pid, serve.lock and
 * syncs.lock held by dead pids. `annexd serve` must start again, redo the
 * interrupted sync, report nothing synced that is not, and leave the WebDAV
 * sibling clean for `git annex fsck --from`.
 *
 * serve.test.ts kills only the daemon itself (its git push held by a hook);
 * this one kills everything below it, during a content transfer.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { annexd, bareSibling, dataset, refOf, whereis } from '../support/push.js';
import { startTestDav, initDavRemote, type TestDav } from '../support/webdav.js';
import { startFaultProxy, through, type FaultProxy } from '../support/fault-proxy.js';
import { descendants } from '../support/kill.js';
import { annexdAt, eventually, readSyncs, startDaemon, type Daemon } from '../support/daemon.js';

let sandbox: Sandbox;
let dav: TestDav;
let proxy: FaultProxy;
const daemons: Daemon[] = [];
beforeAll(async () => {
  sandbox = await createSandbox();
  dav = await startTestDav('lighttpd', sandbox.dir);
  // 512 KiB/s: the 3 MiB upload takes ~6 s, time enough to pull the plug mid-way.
  proxy = await startFaultProxy({ target: dav.url, bytesPerSecond: 512 * 1024 });
});
afterAll(async () => {
  for (const d of daemons) await d.stop();
  await proxy?.stop();
  await dav?.stop();
  await sandbox?.cleanup();
});

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('after a reboot', () => {
  it('serve starts over stale files, redoes the interrupted sync, and fsck --from the WebDAV sibling is clean', async () => {
    const runtime = join(sandbox.dir, 'xdg-run');
    await mkdir(runtime, { mode: 0o700 });
    const stateDir = join(sandbox.dir, 'state');
    const env = { ...sandbox.env, ...dav.credsEnv, ANNEXD_STATE_DIR: stateDir, XDG_RUNTIME_DIR: runtime };
    const ds = await dataset(sandbox, 'reboot', { 'small.dat': 'small\n' });
    await ds.write('big.dat', Buffer.alloc(3 * 1024 * 1024, 7));
    await ds.ok('git', 'annex', 'add', '--quiet', 'big.dat');
    await ds.ok('git', 'commit', '-q', '-m', 'big');
    await initDavRemote(ds, dav, 'dav', [], through(proxy, dav.collection('reboot')));
    const origin = await bareSibling(sandbox, 'reboot-origin');
    expect((await annexd(ds, ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 'dav'], env)).code).toBe(0);
    expect((await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env)).code).toBe(0);

    const d = await startDaemon(env);
    daemons.push(d);
    const pid = d.info.pid;
    // Mid-upload: the remote process runs below the daemon and the PUT of big.dat has begun.
    await eventually('the upload under way', () => descendants(pid, 'annexd-webdav').length > 0 && proxy.requests.some((r) => r.method === 'PUT'));
    await new Promise((r) => setTimeout(r, 1000));
    const tree = [pid, ...descendants(pid, '')];
    expect(tree.length).toBeGreaterThan(2);
    for (const p of tree) process.kill(p, 'SIGSTOP');
    for (const p of tree) process.kill(p, 'SIGKILL');
    await d.exited;
    await eventually('the whole tree gone', () => tree.every((p) => !isAlive(p)));
    expect((await readSyncs(stateDir))[0]?.lastResult).toBe('running');
    expect(await whereis(ds, 'big.dat')).not.toContain('dav');

    // What the reboot leaves: the runtime directories emptied, serve.json and the locks naming dead pids.
    await rm(runtime, { recursive: true });
    await mkdir(runtime, { mode: 0o700 });
    await rm(sandbox.env.ANNEXD_RUNTIME_DIR!, { recursive: true, force: true });
    expect(JSON.parse(await readFile(join(stateDir, 'serve.json'), 'utf8')).pid).toBe(pid);
    expect((await readFile(join(stateDir, 'serve.lock'), 'utf8')).trim()).toBe(String(pid));
    await writeFile(join(stateDir, 'syncs.lock'), `${pid}\n`);
    // The socket remote processes report to is left too.
    expect(existsSync(join(stateDir, 'progress.sock'))).toBe(true);
    const none = await annexdAt(sandbox.dir, ['status'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^annexd: no annexd daemon is running on .*state \(start one with "annexd serve"\)$/m);
    expect((await annexdAt(sandbox.dir, ['sync', 'list'], env)).stdout).toMatch(/last: running since /);

    const again = await startDaemon(env);
    daemons.push(again);
    expect(again.stderr()).not.toMatch(/already running|not shown/);
    // Until the redone sync ends, the state never says ok.
    let sawInterrupted = false;
    await eventually('the sync redone', async () => {
      const e = (await readSyncs(stateDir))[0];
      if (e?.lastResult === 'interrupted') sawInterrupted = true;
      if (e?.lastResult === 'ok') return true;
      expect(e?.lastResult).toMatch(/^(running|interrupted)$/);
      return false;
    }, 120_000);
    expect(sawInterrupted || /started/.test(again.stderr())).toBe(true);
    expect(await refOf(origin, 'refs/heads/main', env)).toBe(await refOf(ds.path, 'HEAD', env));
    expect(await whereis(ds, 'big.dat')).toEqual(['dav', 'origin']);
    const fsck = await ds.run('git', ['annex', 'fsck', '--from', 'dav', '--json'], dav.credsEnv);
    expect(fsck.code, fsck.stderr).toBe(0);
    const results = fsck.stdout.trim().split('\n').map((l) => JSON.parse(l) as { success: boolean; file: string });
    expect(results.map((r) => r.file).sort()).toEqual(['big.dat', 'small.dat']);
    expect(results.every((r) => r.success)).toBe(true);
    // The stale lock was taken over and released; the new daemon's files are its own.
    expect(existsSync(join(stateDir, 'syncs.lock'))).toBe(false);
    expect(JSON.parse(await readFile(join(stateDir, 'serve.json'), 'utf8')).pid).toBe(again.info.pid);
    expect((await readdir(stateDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(await again.stop()).toBe(0);
  });

  it('a dead daemon\'s pid now taken by another live process (pids start over at boot) is not taken for a daemon', async () => {
    const stateDir = join(sandbox.dir, 'state-reused');
    await mkdir(stateDir, { mode: 0o700 });
    const env = { ...sandbox.env, ANNEXD_STATE_DIR: stateDir };
    const other = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const pid = other.pid!;
      // As the daemon of the last boot left them.
      await writeFile(join(stateDir, 'serve.json'), JSON.stringify({ url: 'http://127.0.0.1:1', token: 'x', pid, bootId: 'an-earlier-boot', startTicks: 1 }), { mode: 0o600 });
      await writeFile(join(stateDir, 'serve.lock'), `${pid}\n`);
      const st = await annexdAt(sandbox.dir, ['status'], env);
      expect(st.stderr).toMatch(/^annexd: no annexd daemon is running on /m);
      const d = await startDaemon(env);
      daemons.push(d);
      expect(JSON.parse(await readFile(join(stateDir, 'serve.json'), 'utf8')).pid).toBe(d.info.pid);
      expect(await d.stop()).toBe(0);
      // No serve.json, and serve.lock held by a live process that is no annexd: stale too.
      await writeFile(join(stateDir, 'serve.lock'), `${pid}\n`);
      const d2 = await startDaemon(env);
      daemons.push(d2);
      // While a daemon runs, its own lock and serve.json stand.
      const second = await annexdAt(sandbox.dir, ['serve', '--port', '0'], env);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`already running on .* \\(pid ${d2.info.pid}, `));
      expect(await d2.stop()).toBe(0);
      expect(isAlive(pid)).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

/**
 * Transfers outside the daemon: a `git annex copy --to` or `get` run by hand
 * (real git-annex, the real annexd-s3 remote, the embedded S3 server behind
 * the shaping proxy, slowed so that a transfer lasts a few seconds) is
 * reported by the remote process through the daemon's socket, and the
 * WebSocket shows it with growing bytes, then finished. The daemon's own
 * pushes are not reported twice. A SIGSTOPped daemon does not hold a copy
 * up, and the reporter's queue stays bounded; with no daemon nothing is
 * written anywhere; junk and overlong lines on the socket are ignored.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { exec } from '../../src/util/exec.js';
import { annexd, whereis } from '../support/push.js';
import { datasetWithOrigin, eventually, readSyncs, startDaemon, type Daemon } from '../support/daemon.js';
import { initS3Remote, startTestS3, type TestS3 } from '../support/s3.js';
import { startFaultProxy, through, type FaultProxy } from '../support/fault-proxy.js';
import { linkState, reportTransfer } from '../../src/remotes/core/daemon-report.js';
import type { OutsideTransfer } from '../../src/daemon/outside.js';

const PYTHON = '/usr/bin/python3';
/**
 * Big enough to outlast what loopback's socket buffers take in at once (about
 * 6 MiB are read from the file before the proxy's pace shows): the rest goes
 * at the proxy's pace, a few seconds.
 */
const SIZE = 16 * 1024 * 1024;

let sandbox: Sandbox;
let s3: TestS3;
let proxy: FaultProxy;
let ds: AnnexRepo;
let top: string;
let stateDir: string;
let env: NodeJS.ProcessEnv;
let daemon: Daemon;

/** A socket file nobody listens on, as a daemon killed with -9 leaves it. */
function staleSocket(path: string): void {
  if (!existsSync(PYTHON)) throw new Error(`this test needs ${PYTHON}: run "apt-get install python3"`);
  const r = spawnSync(PYTHON, ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
  if (r.status !== 0) throw new Error(`could not make a stale socket: ${String(r.stderr)}`);
}

let files = 0;
/** A new annexed file of random bytes (SIZE of them by default), committed; its key. */
async function bigFile(size = SIZE): Promise<{ name: string; key: string }> {
  const name = `big-${++files}.bin`;
  await ds.write(name, randomBytes(size));
  await ds.ok('git', 'annex', 'add', '--quiet', name);
  await ds.ok('git', 'commit', '-q', '-m', name);
  return { name, key: await ds.key(name) };
}

interface Feed {
  transfers: OutsideTransfer[];
  types: string[];
  close(): void;
}

/** The daemon's WebSocket: every transfer event, in order. */
async function feed(d: Daemon): Promise<Feed> {
  const ws = new WebSocket(`${d.info.url.replace(/^http/, 'ws')}/api/ws?token=${encodeURIComponent(d.info.token)}`);
  const f: Feed = { transfers: [], types: [], close: () => ws.close() };
  ws.on('message', (data) => {
    const e = JSON.parse(String(data)) as { type: string; transfer?: OutsideTransfer };
    f.types.push(e.type);
    if (e.type === 'transfer') f.transfers.push(e.transfer!);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return f;
}

async function apiStatus(d: Daemon): Promise<{ outside: OutsideTransfer[] }> {
  const res = await fetch(`${d.info.url}/api/status`, { headers: { authorization: `Bearer ${d.info.token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { outside: OutsideTransfer[] };
}

const annexEnv = (): NodeJS.ProcessEnv => ({ ...s3.credsEnv, ANNEXD_STATE_DIR: stateDir });

beforeAll(async () => {
  sandbox = await createSandbox();
  s3 = await startTestS3(sandbox.dir);
  // Over all connections together, in each direction.
  proxy = await startFaultProxy({ target: s3.endpoint, totalBytesPerSecond: 4 * 1024 * 1024 });
  ds = await AnnexRepo.create(sandbox, 'byhand');
  await initS3Remote(ds, { ...s3, endpoint: through(proxy, s3.endpoint) }, 's3');
  top = await realpath(ds.path);
  stateDir = join(sandbox.dir, 'state');
  env = { ...sandbox.env, ...s3.credsEnv, ANNEXD_STATE_DIR: stateDir };
  // Left by a daemon that died: the next one replaces it.
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  staleSocket(join(stateDir, 'progress.sock'));
  daemon = await startDaemon(env);
});
afterAll(async () => {
  if (daemon) process.kill(daemon.info.pid, 'SIGCONT');
  await daemon?.stop();
  await proxy?.stop();
  await s3?.stop();
  await sandbox?.cleanup();
});

describe('transfers outside the daemon', () => {
  it('a hand-run "git annex copy --to" shows on the WebSocket with growing bytes, then finished; so does "git annex get" (from a subdirectory)', async () => {
    const sock = await stat(join(stateDir, 'progress.sock'));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);

    const { name, key } = await bigFile();
    const f = await feed(daemon);
    const copy = ds.okEnv(annexEnv(), 'git', 'annex', 'copy', '--to', 's3', name);
    // While it runs, the status has it too.
    await eventually('the transfer in /api/status', async () => (await apiStatus(daemon)).outside.some((t) => t.key === key && t.bytes > 0));
    const text = await annexd(ds, ['status'], env);
    expect(text.stdout, text.stderr).toContain(`\ntransfers outside the daemon:\n  ${top}: ${key} to s3 `);
    await copy;
    await eventually('the finished event', () => f.transfers.some((t) => t.key === key && t.state !== 'running'));
    const mine = f.transfers.filter((t) => t.key === key);
    expect(mine[0]).toMatchObject({ repo: top, remote: 's3', direction: 'store', size: SIZE });
    const bytes = mine.filter((t) => t.state === 'running').map((t) => t.bytes);
    // Seen mid-file, more than once, never going back.
    expect(bytes.filter((b) => b > 0 && b < SIZE).length, JSON.stringify(bytes)).toBeGreaterThanOrEqual(2);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(mine.at(-1)).toMatchObject({ state: 'finished', bytes: SIZE, direction: 'store' });
    expect(new Set(mine.map((t) => t.id)).size).toBe(1);
    expect((await apiStatus(daemon)).outside).toEqual([]);
    expect(await whereis(ds, name)).toEqual(['s3']);

    await ds.ok('git', 'annex', 'drop', '--quiet', name);
    // From a subdirectory: the remote runs there, and still names the repository's top.
    const sub = join(ds.path, 'sub');
    await mkdir(sub, { recursive: true });
    const get = await exec('git', ['annex', 'get', '--quiet', `../${name}`], { cwd: sub, env: { ...ds.env, ...annexEnv() } });
    expect(get.code, get.stderr).toBe(0);
    await eventually('the get finished', () => f.transfers.some((t) => t.key === key && t.direction === 'retrieve' && t.state !== 'running'));
    const got = f.transfers.filter((t) => t.key === key && t.direction === 'retrieve');
    expect(got.some((t) => t.state === 'running' && t.bytes > 0 && t.bytes < SIZE)).toBe(true);
    expect(got.at(-1)).toMatchObject({ state: 'finished', bytes: SIZE, repo: top, remote: 's3' });
    f.close();
    expect(daemon.stderr()).not.toMatch(/not shown/);
  });

  it('the daemon\'s own pushes are shown once: push progress, no reports from its remote processes', async () => {
    const own = await datasetWithOrigin(sandbox, 'own', { 'small.dat': 'small\n' });
    await initS3Remote(own.ds, { ...s3, endpoint: through(proxy, s3.endpoint) }, 's3');
    await own.ds.ok('git', 'config', '--add', 'remote.origin.datalad-publish-depends', 's3');
    await own.ds.write('mid.bin', randomBytes(512 * 1024));
    await own.ds.ok('git', 'annex', 'add', '--quiet', 'mid.bin');
    await own.ds.ok('git', 'commit', '-q', '-m', 'mid');
    const f = await feed(daemon);
    expect((await annexd(own.ds, ['sync', 'add', '.', '--to', 'origin'], env)).code).toBe(0);
    await eventually('the sync', async () => (await readSyncs(stateDir)).some((e) => e.path === own.ds.path && e.lastResult === 'ok'), 120_000);
    await eventually('sync-finished on the WebSocket', () => f.types.includes('sync-finished'));
    f.close();
    expect(await whereis(own.ds, 'mid.bin')).toContain('s3');
    expect(f.types).toContain('progress');
    expect(f.transfers).toEqual([]);
  });

  it('a SIGSTOPped daemon does not hold a copy up; after SIGCONT it takes what was queued and is fine', async () => {
    const { name, key } = await bigFile();
    const f = await feed(daemon);
    process.kill(daemon.info.pid, 'SIGSTOP');
    let copied;
    try {
      copied = await ds.run('git', ['annex', 'copy', '--to', 's3', name], annexEnv());
    } finally {
      process.kill(daemon.info.pid, 'SIGCONT');
    }
    expect(copied.code, copied.stderr).toBe(0);
    expect(await whereis(ds, name)).toEqual(['s3']);
    await eventually('the queued reports, read after SIGCONT', () => f.transfers.some((t) => t.key === key && t.state === 'finished'));
    expect((await apiStatus(daemon)).outside).toEqual([]);
    f.close();
  });

  it('a stopped daemon never reading: the reporter drops lines, its queue stays bounded, nothing waits', async () => {
    process.env.ANNEXD_STATE_DIR = stateDir;
    const f = await feed(daemon);
    const first = reportTransfer('SHA256E-s1--first', 'store');
    await eventually('the reporter connected', () => linkState().open);
    first?.end(true);
    await eventually('the first report', () => f.transfers.some((t) => t.key === 'SHA256E-s1--first' && t.state === 'finished'));
    process.kill(daemon.info.pid, 'SIGSTOP');
    const n = 20_000;
    let peak = 0;
    try {
      // Far more than the kernel's socket buffer holds: it fills, then the reporter drops.
      for (let i = 0; i < n; i++) {
        const r = reportTransfer(`SHA256E-s${1000 + i}--flood${i}`, 'retrieve');
        r?.bytes(500);
        r?.end(true);
        peak = Math.max(peak, linkState().queued);
      }
    } finally {
      process.kill(daemon.info.pid, 'SIGCONT');
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2 * 16 * 1024 + 1024);
    // Once the daemon has read what was queued, a last report comes through: the link is fine.
    await eventually('the queue drained', () => linkState().queued === 0);
    const last = reportTransfer('SHA256E-s2--last', 'store');
    last?.end(true);
    await eventually('the last report', () => f.transfers.some((t) => t.key === 'SHA256E-s2--last' && t.state === 'finished'));
    const flood = f.transfers.filter((t) => t.key.includes('--flood') && t.state === 'finished').length;
    expect(flood).toBeGreaterThan(0);
    expect(flood).toBeLessThan(n);
    f.close();
    expect((await apiStatus(daemon)).outside.filter((t) => t.pid === process.pid)).toEqual([]);
  });

  it('with no daemon, a copy works and nothing is written: no state directory made, a stale socket left as it was', async () => {
    const none = join(sandbox.dir, 'no-state');
    const a = await bigFile(1024 * 1024);
    const r = await ds.run('git', ['annex', 'copy', '--to', 's3', a.name], { ...s3.credsEnv, ANNEXD_STATE_DIR: none });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(existsSync(none)).toBe(false);
    expect(await whereis(ds, a.name)).toEqual(['s3']);

    const stale = join(sandbox.dir, 'stale-state');
    await mkdir(stale, { mode: 0o700 });
    staleSocket(join(stale, 'progress.sock'));
    const before = await readdir(stale);
    await ds.ok('git', 'annex', 'drop', '--quiet', a.name);
    const g = await ds.run('git', ['annex', 'get', a.name], { ...s3.credsEnv, ANNEXD_STATE_DIR: stale });
    expect(g.code, g.stderr).toBe(0);
    expect(g.stderr).toBe('');
    expect(await readdir(stale)).toEqual(before);
  });

  it('junk and overlong lines on the socket are ignored; a good line after them is taken; the daemon stays up', async () => {
    const f = await feed(daemon);
    const s: Socket = connect(join(stateDir, 'progress.sock'));
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    const good = { v: 1, pid: 424242, id: 1, repo: '/x/y', remote: 'r', key: 'SHA256E-s10--good', direction: 'store', bytes: 5, size: 10, state: 'running' };
    const bad: unknown[] = [
      { ...good, key: 'SHA256E-s10--bad1', bytes: -1 },
      { ...good, key: 'SHA256E-s10--bad2', repo: 'relative/path' },
      { ...good, key: 'SHA256E-s10--bad3\u0001' },
      { ...good, key: 'SHA256E-s10--bad4', state: 'exploded' },
      { ...good, key: 'SHA256E-s10--bad5', v: 2 },
      { ...good, key: 'SHA256E-s10--bad6', direction: 'sideways' },
      { ...good, key: 'SHA256E-s10--bad7', pid: 'me' },
      [1, 2, 3],
      null,
    ];
    s.write('this is not JSON\n\n{"v":1\n');
    for (const b of bad) s.write(`${JSON.stringify(b)}\n`);
    // Overlong: 200 KiB without a line break, then a valid-looking end (still the same line).
    s.write('x'.repeat(200 * 1024));
    s.write(`${JSON.stringify({ ...good, key: 'SHA256E-s10--tail-of-long' })}\n`);
    s.write(Buffer.from([0xff, 0xfe, 0x00, 0x0a]));
    s.write(`${JSON.stringify(good)}\n`);
    await eventually('the good line', () => f.transfers.some((t) => t.key === good.key));
    s.end();
    await eventually('gone once the connection closed', () => f.transfers.some((t) => t.key === good.key && t.state === 'gone'));
    expect(f.transfers.filter((t) => t.pid === 424242).map((t) => [t.key, t.state])).toEqual([[good.key, 'running'], [good.key, 'gone']]);

    // Many connections at once: the daemon caps them and goes on.
    const many = await Promise.all(Array.from({ length: 300 }, () => new Promise<Socket>((resolve) => {
      const c = connect(join(stateDir, 'progress.sock'));
      c.on('error', () => undefined);
      c.once('connect', () => resolve(c)).once('close', () => resolve(c));
    })));
    for (const c of many) c.destroy();
    expect((await apiStatus(daemon)).outside.filter((t) => t.pid === 424242)).toEqual([]);
    f.close();
    expect(daemon.proc.exitCode).toBeNull();
  });
});

/**
 * The daemon's API on a real `annexd serve`: the token (missing, wrong,
 * right), the Host rule (DNS rebinding), the Origin rule (cross-site
 * requests and WebSocket hijacking), the one-time login link and its
 * cookie with the CSRF header, the events of a sync on the WebSocket, and
 * `annexd status` talking to the daemon (and saying when none runs).
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type AnnexRepo, type Sandbox } from '../support/annex.js';
import { annexd } from '../support/push.js';
import { BIN_DIR } from '../support/tools.js';
import { datasetWithOrigin, eventually, readSyncs, startDaemon, type Daemon } from '../support/daemon.js';

let sandbox: Sandbox;
let daemon: Daemon;
let ds: AnnexRepo;
let env: NodeJS.ProcessEnv;
let stateDir: string;
let port: number;

beforeAll(async () => {
  sandbox = await createSandbox();
  ({ ds } = await datasetWithOrigin(sandbox, 'api', { 'a.dat': 'alpha\n', 'b.dat': 'beta\n' }));
  stateDir = join(sandbox.dir, 'state');
  env = { ...sandbox.env, ANNEXD_STATE_DIR: stateDir };
  const s = await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env);
  expect(s.code, s.stderr).toBe(0);
  daemon = await startDaemon(env);
  port = Number(new URL(daemon.info.url).port);
  await eventually('the first sync', async () => (await readSyncs(stateDir))[0]?.lastResult === 'ok');
});
afterAll(async () => {
  await daemon?.stop();
  await sandbox?.cleanup();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request, so Host and Origin can be anything (fetch does not let a caller set Host). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bearer = (): Record<string, string> => ({ authorization: `Bearer ${daemon.info.token}` });

/** A WebSocket handshake: the first message, or the HTTP status it was refused with. */
function wsOpen(path: string, headers: Record<string, string> = {}): Promise<{ status: number; first?: { type: string } ; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('message', (data) => resolve({ status: 101, first: JSON.parse(String(data)) as { type: string }, ws }));
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

describe('the API', () => {
  it('needs the token: missing and wrong are refused, right gets the status', async () => {
    expect((await raw('GET', '/api/status')).status).toBe(401);
    const wrong = await raw('GET', '/api/status', { authorization: `Bearer ${daemon.info.token.slice(0, -1)}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body).not.toContain(daemon.info.token);
    expect((await raw('POST', '/api/sync', {}, '{}')).status).toBe(401);
    const ok = await raw('GET', '/api/status', bearer());
    expect(ok.status).toBe(200);
    const status = JSON.parse(ok.body) as { pid: number; syncs: Array<{ path: string; sibling: string; lastResult: string; siblings: Array<{ name: string; publishDepends: string[] }> }> };
    expect(status.pid).toBe(daemon.info.pid);
    expect(status.syncs[0]).toMatchObject({ path: ds.path, sibling: 'origin', lastResult: 'ok' });
    expect(status.syncs[0]!.siblings.find((s) => s.name === 'origin')?.publishDepends).toEqual(['store']);
  });

  it('refuses another Host (DNS rebinding) and another Origin, even with the token', async () => {
    const rebind = await raw('GET', '/api/status', { ...bearer(), host: `evil.example:${port}` });
    expect(rebind.status).toBe(403);
    expect(rebind.body).toMatch(/Host must be/);
    expect((await raw('GET', '/', { host: `127.0.0.1:${port + 1}` })).status).toBe(403);
    expect((await raw('GET', '/api/status', { ...bearer(), host: `localhost:${port}` })).status).toBe(200);
    const cross = await raw('POST', '/api/sync', { ...bearer(), origin: 'http://evil.example' }, '{}');
    expect(cross.status).toBe(403);
    expect(cross.body).toMatch(/cross-origin/);
    expect((await raw('GET', '/api/status', { ...bearer(), origin: `http://localhost:${port}` })).status).toBe(403);
    expect((await raw('GET', '/api/status', { ...bearer(), origin: `http://127.0.0.1:${port}` })).status).toBe(200);
  });

  it('WebSocket: refused without the token, with a wrong one, from another origin or Host; with the token it sends the status first', async () => {
    expect((await wsOpen('/api/ws')).status).toBe(401);
    expect((await wsOpen('/api/ws?token=nope')).status).toBe(401);
    const t = `/api/ws?token=${encodeURIComponent(daemon.info.token)}`;
    expect((await wsOpen(t, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await wsOpen(t, { host: `attacker.example:${port}` })).status).toBe(403);
    const ok = await wsOpen(t);
    expect(ok.status).toBe(101);
    expect(ok.first?.type).toBe('status');
    ok.ws?.close();
  });

  it('a one-time login link sets an HttpOnly SameSite=Strict cookie; POSTs with it need the CSRF header', async () => {
    const login = await annexd(ds, ['status', '--open'], env);
    expect(login.code, login.stderr).toBe(0);
    const url = new URL(login.stdout.trim());
    expect(url.origin).toBe(`http://127.0.0.1:${port}`);
    const first = await raw('GET', url.pathname);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    const setCookie = String(first.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect((await raw('GET', url.pathname)).status).toBe(403); // used once
    const cookie = setCookie.split(';')[0]!;
    expect((await raw('GET', '/api/status', { cookie })).status).toBe(200);
    const noCsrf = await raw('POST', '/api/pause', { cookie, 'content-type': 'application/json' }, '{}');
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body).toMatch(/X-Annexd-CSRF/);
    expect((await readSyncs(stateDir))[0]?.paused).toBe(false);
    // The cookie cannot mint more login links.
    expect((await raw('POST', '/api/login', { cookie, 'x-annexd-csrf': '1' })).status).toBe(403);
    const ws = await wsOpen('/api/ws', { cookie, origin: `http://127.0.0.1:${port}` });
    expect(ws.status).toBe(101);
    ws.ws?.close();
    const paused = await raw('POST', '/api/pause', { cookie, 'x-annexd-csrf': '1' }, '{}');
    expect(paused.status, paused.body).toBe(200);
    expect((await readSyncs(stateDir))[0]?.paused).toBe(true);
    expect((await raw('POST', '/api/resume', { ...bearer() }, '{}')).status).toBe(200);
    expect((await readSyncs(stateDir))[0]?.paused).toBe(false);
  });

  it('the WebSocket streams a sync: queue, started, per-file progress, finished', async () => {
    await ds.write('c.dat', 'gamma gamma\n');
    await ds.ok('git', 'annex', 'add', '--quiet', 'c.dat');
    await ds.ok('git', 'commit', '-q', '-m', 'c');
    const { ws } = await wsOpen(`/api/ws?token=${encodeURIComponent(daemon.info.token)}`);
    const events: Array<{ type: string; progress?: { target: string; file?: string; filesDone: number; filesTotal: number } }> = [];
    ws!.on('message', (d) => events.push(JSON.parse(String(d)) as (typeof events)[number]));
    const r = await raw('POST', '/api/sync', { ...bearer(), 'content-type': 'application/json' }, JSON.stringify({ path: ds.path }));
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ queued: 1 });
    await eventually('sync-finished', () => events.some((e) => e.type === 'sync-finished'));
    ws!.close();
    const types = events.map((e) => e.type).filter((t) => t !== 'status');
    expect(types[0]).toBe('queue');
    expect(types.indexOf('sync-started')).toBeLessThan(types.indexOf('sync-finished'));
    const progress = events.filter((e) => e.type === 'progress').map((e) => e.progress!);
    expect(progress.some((p) => p.target === 'store' && p.filesDone === p.filesTotal && p.filesTotal === 1)).toBe(true);
    expect(events.some((e) => e.type === 'status')).toBe(true);
  });

  it('annexd status --watch --json streams the events of a sync until Ctrl-C', async () => {
    const watch = spawn(join(BIN_DIR, 'annexd'), ['status', '--watch', '--json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    watch.stdout!.on('data', (c: Buffer) => (text += c.toString()));
    const exited = new Promise<number | null>((r) => watch.on('exit', (code) => r(code)));
    await eventually('the first status', () => text.includes('"type":"status"'));
    expect((await raw('POST', '/api/sync', bearer(), '{}')).status).toBe(200);
    await eventually('sync-finished in the stream', () => text.includes('"type":"sync-finished"'));
    watch.kill('SIGINT');
    expect(await exited).toBe(0);
    const types = text.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toContain('sync-started');
    expect(types.indexOf('sync-started')).toBeLessThan(types.indexOf('sync-finished'));
  });

  it('a port in use: one clear line', async () => {
    const other = await annexd(ds, ['serve', '--port', String(port)], { ...env, ANNEXD_STATE_DIR: join(sandbox.dir, 'state-2') });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(new RegExp(`^annexd: port ${port} on 127\\.0\\.0\\.1 is in use \\(choose another with --port N, or --port 0 for a free one\\)$`, 'm'));
  });

  it('annexd status shows the syncs; --json; no daemon: says so', async () => {
    const text = await annexd(ds, ['status'], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${ds.path} -> origin: ok`);
    expect(text.stdout).toMatch(/publish-depends: store/);
    const json = JSON.parse((await annexd(ds, ['status', '--json'], env)).stdout) as { syncs: unknown[] };
    expect(json.syncs).toHaveLength(1);
    const none = await annexd(ds, ['status'], { ANNEXD_STATE_DIR: join(sandbox.dir, 'nothing-here') });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^annexd: no annexd daemon is running on .*nothing-here \(start one with "annexd serve"\)$/m);
    expect(daemon.stderr()).not.toContain(daemon.info.token);
  });
});

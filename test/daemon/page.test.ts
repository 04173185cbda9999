/**
 * The status page in real headless Chromium (Debian's chromium, driven by
 * playwright-core; no browser download): logged in by the one-time link of
 * `annexd status --open`, it shows the datasets with their siblings and
 * publish-depends, a failed sync's error, and after "Sync now" the sync
 * running live (progress bars from the WebSocket) and then done.
 * Then a bar seen mid-file, on an annexd-s3 sibling throttled by the shaping
 * proxy, and one of a `git annex get` run by hand (outside the daemon, its
 * remote reporting to it). Screenshots are kept in test-artifacts/.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { annexd, refOf } from '../support/push.js';
import { datasetWithOrigin, eventually, readSyncs, startDaemon, type Daemon } from '../support/daemon.js';
import { REPO_ROOT } from '../support/tools.js';
import { initS3Remote, startTestS3 } from '../support/s3.js';
import { startFaultProxy, through } from '../support/fault-proxy.js';

const CHROMIUM = '/usr/bin/chromium';
let sandbox: Sandbox;
let daemon: Daemon | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`this test needs Debian's chromium at ${CHROMIUM}: run "apt-get install chromium" (scripts/setup.sh does it)`);
  sandbox = await createSandbox();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  await sandbox?.cleanup();
});

describe('the status page in headless Chromium', () => {
  it('shows the datasets and an error; "Sync now" runs a sync the page follows live', async () => {
    const gate = join(sandbox.dir, 'gate');
    await writeFile(gate, '');
    // Refs reach origin only while the gate file exists: with it removed, the sync holds after its content transfers.
    const good = await datasetWithOrigin(sandbox, 'good', { 'a.dat': 'alpha good\n' }, `while [ ! -e '${gate}' ]; do sleep 0.1; done; cat >/dev/null`);
    const bad = await datasetWithOrigin(sandbox, 'bad', { 'a.dat': 'alpha bad\n' });
    await rm(bad.origin, { recursive: true });
    const env = { ...sandbox.env, ANNEXD_STATE_DIR: join(sandbox.dir, 'state') };
    for (const d of [good.ds, bad.ds]) expect((await annexd(d, ['sync', 'add', '.', '--to', 'origin'], env)).code).toBe(0);
    daemon = await startDaemon(env);
    const stateDir = env.ANNEXD_STATE_DIR;
    await eventually('both first syncs', async () => {
      const s = await readSyncs(stateDir);
      return s.length === 2 && s.every((e) => e.lastResult === 'ok' || e.lastResult === 'failed');
    });

    const page = await browser!.newPage();
    await page.goto(daemon.info.url);
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    const login = await annexd(good.ds, ['status', '--open'], env);
    expect(login.code, login.stderr).toBe(0);
    await page.goto(login.stdout.trim());
    expect(new URL(page.url()).pathname).toBe('/');
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name.startsWith('annexd_session_'))).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    const goodBox = page.locator(`.sync[data-path="${good.ds.path}"]`);
    const badBox = page.locator(`.sync[data-path="${bad.ds.path}"]`);
    await expect.poll(() => goodBox.getAttribute('data-state')).toBe('ok');
    await expect.poll(() => goodBox.locator('.sibs').textContent()).toMatch(/origin \(publish-depends: store\)/);
    await expect.poll(() => badBox.getAttribute('data-state')).toBe('failed');
    await expect.poll(() => badBox.locator('[data-role=error]').textContent()).toMatch(/origin/);

    // A new file and a closed gate: "Sync now" copies it, then waits at the git push.
    await good.ds.write('big.dat', 'x'.repeat(200_000));
    await good.ds.ok('git', 'annex', 'add', '--quiet', 'big.dat');
    await good.ds.ok('git', 'commit', '-q', '-m', 'big');
    await rm(gate);
    await goodBox.locator('button[data-action=sync]').click();
    await expect.poll(() => goodBox.getAttribute('data-state')).toBe('syncing');
    const storeBar = goodBox.locator('.bar[data-target=store]');
    await expect.poll(() => storeBar.textContent(), { timeout: 30_000 }).toMatch(/1\/1 files/);
    expect(Number(await storeBar.locator('progress').evaluate((p) => (p as unknown as { value: number }).value))).toBe(1);
    await mkdir(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'daemon-status-page.png'), fullPage: true });

    await writeFile(gate, '');
    await expect.poll(() => goodBox.getAttribute('data-state'), { timeout: 30_000 }).toBe('ok');
    expect(await refOf(good.origin, 'refs/heads/main', env)).toBe(await refOf(good.ds.path, 'HEAD', env));
    await expect.poll(() => goodBox.locator('.bar').count()).toBe(0);

    // Pause from the page: the state file says so.
    await goodBox.locator('button[data-action=pause]').click();
    await expect.poll(() => goodBox.getAttribute('data-state')).toBe('paused');
    expect((await readSyncs(stateDir)).find((e) => e.path === good.ds.path)?.paused).toBe(true);
    await page.close();
  });

  it('a progress bar moves mid-file while a sync copies to a throttled S3 sibling (annexd-s3 behind the shaping proxy)', async () => {
    const s3 = await startTestS3(sandbox.dir);
    const proxy = await startFaultProxy({ target: s3.endpoint, bytesPerSecond: 512 * 1024 });
    try {
      const { ds } = await datasetWithOrigin(sandbox, 'slow', { 'small.dat': 'small\n' });
      await initS3Remote(ds, { ...s3, endpoint: through(proxy, s3.endpoint) }, 's3');
      await ds.ok('git', 'config', '--add', 'remote.origin.datalad-publish-depends', 's3');
      await ds.write('big.bin', randomBytes(3 * 1024 * 1024).toString('base64'));
      await ds.ok('git', 'annex', 'add', '--quiet', 'big.bin');
      await ds.ok('git', 'commit', '-q', '-m', 'big');
      const env = { ...sandbox.env, ...s3.credsEnv, ANNEXD_STATE_DIR: join(sandbox.dir, 'state-slow') };
      await daemon?.stop();
      daemon = await startDaemon(env);
      const page = await browser!.newPage();
      const login = await annexd(ds, ['status', '--open'], env);
      await page.goto(login.stdout.trim());
      expect((await annexd(ds, ['sync', 'add', '.', '--to', 'origin'], env)).code).toBe(0);
      const bar = page.locator(`.sync[data-path="${ds.path}"] .bar[data-target=s3] progress`);
      // Seen strictly between empty and full: the bytes of one file arriving, pushed over the WebSocket.
      await expect.poll(async () => {
        const v = (await bar.count()) ? Number(await bar.evaluate((p) => (p as unknown as { value: number }).value)) : 0;
        return v > 0.05 && v < 0.95;
      }, { timeout: 60_000, interval: 100 }).toBe(true);
      await expect.poll(() => page.locator(`.sync[data-path="${ds.path}"]`).getAttribute('data-state'), { timeout: 120_000 }).toBe('ok');

      // A "git annex get" run by hand in the same dataset: its remote reports to the daemon, the box shows it live.
      await ds.ok('git', 'annex', 'drop', '--quiet', 'big.bin');
      const get = ds.okEnv(env, 'git', 'annex', 'get', '--quiet', '--from', 's3', 'big.bin');
      const outside = page.locator(`.sync[data-path="${ds.path}"] .bar.outside[data-direction=retrieve]`);
      await expect.poll(async () => {
        const v = (await outside.count()) ? Number(await outside.locator('progress').evaluate((p) => (p as unknown as { value: number }).value)) : 0;
        return v > 0.05 && v < 0.95;
      }, { timeout: 60_000, interval: 100 }).toBe(true);
      expect(await outside.textContent()).toMatch(/^from s3.*outside the daemon \(pid \d+\)$/);
      await mkdir(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'daemon-status-page-outside.png'), fullPage: true });
      await get;
      await expect.poll(() => outside.count()).toBe(0);

      // One in a dataset the daemon does not sync: in its own section, with its repository.
      const sock = connect(join(env.ANNEXD_STATE_DIR!, 'progress.sock'));
      await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
      sock.write(`${JSON.stringify({ v: 1, pid: process.pid, id: 1, repo: '/elsewhere/ds', remote: 'dav', key: 'SHA256E-s100--x.dat', direction: 'store', bytes: 40, size: 100, state: 'running' })}\n`);
      const other = page.locator('#outside .bar.outside');
      await expect.poll(() => other.textContent()).toMatch(/^to dav.*\/elsewhere\/ds: 40 B\/100 B · SHA256E-s100--x\.dat · outside the daemon/);
      sock.end();
      await expect.poll(() => page.locator('#outside').isHidden()).toBe(true);
      await page.close();
    } finally {
      await proxy.stop();
      await s3.stop();
    }
  });
});

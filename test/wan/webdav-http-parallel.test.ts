/**
 * Parallel ranged downloads on WebDAV (all three servers) and HTTP (lighttpd,
 * and Python's http.server, which ignores Range), through the proxy shaped as
 * a wide-area link (issue 14.2). A file replaced on the server mid-download
 * is never assembled from two versions.
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, initExternalRemote, type Sandbox } from '../support/annex.js';
import { through, withFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startWebSources, type WebSources } from '../support/http-sources.js';
import { freePort, waitForHttp } from '../support/servers.js';
import { until } from '../support/kill.js';
import { requireTool } from '../support/tools.js';
import { DAV_KINDS, startTestDav, type TestDav } from '../support/webdav.js';

const MiB = 1024 * 1024;
const RANGES = ['downloadthreshold=8MiB', 'downloadrangesize=4MiB', 'downloadstreams=4'];
const SIX_RANGES = [0, 1, 2, 3, 4, 5].map((i) => `bytes=${i * 4 * MiB}-${(i + 1) * 4 * MiB - 1}`).sort();
let sandbox: Sandbox;
const davs = new Map<string, TestDav>();
let web: WebSources;

beforeAll(async () => {
  sandbox = await createSandbox();
  for (const kind of DAV_KINDS) davs.set(kind, await startTestDav(kind, sandbox.dir));
  web = await startWebSources(sandbox.dir);
});
afterAll(async () => {
  for (const d of davs.values()) await d.stop();
  await web?.stop();
  await sandbox?.cleanup();
});

const rangedGets = (p: FaultProxy): string[] => p.requests.filter((r) => r.method === 'GET' && r.range).map((r) => r.range as string);
const shaped = { latencyMs: 10, bytesPerSecond: 16 * MiB };

describe.each(DAV_KINDS)('annexd-webdav on %s, parallel ranges', (kind) => {
  it('gets a 24 MiB key as 6 ranges over several connections (one stream where the server names no version), verified by git-annex', async () => {
    const dav = davs.get(kind) as TestDav;
    const repo = await AnnexRepo.create(sandbox, `dav-par-${kind}`);
    const url = dav.collection('par');
    await initExternalRemote(repo, 'annexd-webdav', 'dav', [`url=${url}`, ...RANGES], dav.credsEnv);
    await repo.write('big.bin', randomBytes(24 * MiB));
    await repo.commitAll();
    await repo.ok('git', 'annex', 'move', '--to', 'dav', 'big.bin');
    await withFaultProxy({ target: dav.url, ...shaped }, async (proxy) => {
      await repo.ok('git', 'annex', 'enableremote', 'dav', `url=${through(proxy, url)}`);
      await repo.ok('git', 'annex', 'get', 'big.bin');
      const gets = proxy.requests.filter((r) => r.method === 'GET');
      if (kind === 'lighttpd') {
        // mod_webdav names no ETag or Last-Modified: no version to hold ranges to, so one stream.
        expect(gets.map((g) => [g.range, g.status])).toEqual([[`bytes=0-${4 * MiB - 1}`, 206], [undefined, 200]]);
      } else {
        expect(rangedGets(proxy).sort()).toEqual(SIX_RANGES);
        expect(proxy.connections).toBeGreaterThanOrEqual(4);
      }
    });
    await repo.ok('git', 'annex', 'fsck', 'big.bin');
  });
});

describe('annexd-http, parallel ranges', () => {
  it('gets a 24 MiB URL from lighttpd as 6 ranges', async () => {
    await web.put('files/big.bin', randomBytes(24 * MiB));
    const repo = await AnnexRepo.create(sandbox, 'http-par');
    await initExternalRemote(repo, 'annexd-http', 'webpar', RANGES);
    await withFaultProxy({ target: web.web, ...shaped }, async (proxy) => {
      await repo.ok('git', 'annex', 'addurl', '--file', 'big.bin', `${proxy.url}/files/big.bin`);
      await repo.ok('git', 'commit', '-q', '-m', 'big');
      await repo.ok('git', 'annex', 'drop', 'big.bin');
      const before = rangedGets(proxy).length;
      await repo.ok('git', 'annex', 'get', 'big.bin');
      expect(rangedGets(proxy).slice(before).sort()).toEqual(SIX_RANGES);
    });
    await repo.ok('git', 'annex', 'fsck', 'big.bin');
  });

  it('a server that ignores Range (Python http.server) gets one whole GET, and the content is right', async () => {
    requireTool('python3', 'apt-get install -y python3');
    const port = await freePort();
    const server: ChildProcess = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', web.root], { stdio: 'ignore' });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/`);
      await web.put('files/plain.bin', randomBytes(12 * MiB));
      const repo = await AnnexRepo.create(sandbox, 'http-norange');
      await initExternalRemote(repo, 'annexd-http', 'webpar', RANGES);
      await withFaultProxy({ target: `http://127.0.0.1:${port}` }, async (proxy) => {
        await repo.ok('git', 'annex', 'addurl', '--file', 'plain.bin', `${proxy.url}/files/plain.bin`);
        await repo.ok('git', 'commit', '-q', '-m', 'plain');
        await repo.ok('git', 'annex', 'drop', 'plain.bin');
        const before = proxy.requests.length;
        await repo.ok('git', 'annex', 'get', 'plain.bin');
        const gets = proxy.requests.slice(before).filter((r) => r.method === 'GET');
        expect(gets).toHaveLength(1);
        expect(gets[0]?.status).toBe(200);
      });
      await repo.ok('git', 'annex', 'fsck', 'plain.bin');
    } finally {
      server.kill();
    }
  });
});

describe('a file replaced on the WebDAV server mid-download', () => {
  it.each(DAV_KINDS)('on %s: the download is one version, the old one whole or the change seen', async (kind) => {
    const dav = davs.get(kind) as TestDav;
    const repo = await AnnexRepo.create(sandbox, `dav-change-${kind}`);
    const url = dav.collection('change');
    await initExternalRemote(repo, 'annexd-webdav', 'dav', [`url=${url}`, ...RANGES, 'exporttree=yes'], dav.credsEnv);
    await repo.write('big.bin', randomBytes(24 * MiB));
    await repo.commitAll();
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'dav');
    await repo.ok('git', 'annex', 'drop', '--force', 'big.bin');
    const onDisk = join(dav.root, new URL(url).pathname.replace(/^\/dav\//, ''), 'big.bin');
    let replaced!: () => void;
    const replacedOnDisk = new Promise<void>((r) => (replaced = r));
    const first = `bytes=0-${4 * MiB - 1}`;
    await withFaultProxy(
      // The first range (fetched alone, it fixes the version) is held mid-body until the file has been replaced
      // and 2 s more: past lighttpd's stat cache (about a second), which would otherwise name the new file by the old one's ETag.
      {
        target: dav.url,
        plan: [{ fault: 'stall', match: (r) => r.method === 'GET' && r.headers.range === first, atByte: 1000, until: replacedOnDisk.then(() => sleep(2000)) }],
      },
      async (proxy) => {
        await repo.ok('git', 'annex', 'enableremote', 'dav', `url=${through(proxy, url)}`);
        const getting = repo.run('git', ['annex', '--debug', 'get', 'big.bin']);
        let exited = false;
        void getting.finally(() => (exited = true));
        // lighttpd gives no version, so its download is one plain GET: that one is the request held.
        await until('the first download request to be held by the proxy', () => exited || proxy.requests.some((r) => r.method === 'GET' && r.fault === 'stall'));
        // Meanwhile the file is replaced atomically, as an upload by another client would be: new content, same size, new ETag.
        await writeFile(`${onDisk}.new`, randomBytes(24 * MiB));
        const later = new Date(Date.now() + 5000);
        await utimes(`${onDisk}.new`, later, later);
        await rename(`${onDisk}.new`, onDisk);
        replaced();
        const r = await getting;
        const out = r.stdout + r.stderr;
        expect(proxy.injected.stall, 'the download was held while the file was replaced').toBe(1);
        if (kind === 'lighttpd') {
          // No version to hold ranges to: one stream from one open file, the old version whole.
          expect(r.code, out).toBe(0);
          await repo.ok('git', 'annex', 'fsck', 'big.bin');
        } else {
          // Or the change was seen: the download started over once, and the new bytes are not the key.
          expect(out).toMatch(/changed on the server during the download/);
          expect((await repo.ok('git', 'annex', 'find', '--in', 'here', 'big.bin')).stdout.trim()).toBe('');
        }
        expect(out).not.toMatch(/Verification of content failed.*\n.*TRANSFER-SUCCESS/);
      },
    );
  });
});

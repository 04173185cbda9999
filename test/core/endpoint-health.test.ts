/**
 * Issue 8.4: an unreachable endpoint costs one failure per process, not a
 * retry budget per key. Real sockets: a closed port refuses, a TLS server
 * (certificate made by openssl) hangs up on plain http.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EndpointHealth, REPROBE_MS, resetEndpointHealth } from '../../src/remotes/core/endpoint-health.js';
import { EndpointDownError, isRetryableNetworkError, networkProblem, PlainHttpToTlsError } from '../../src/remotes/core/net-errors.js';
import { withRetry, type RetryPolicy } from '../../src/remotes/core/retry.js';
import { closedPort } from '../support/servers.js';
import { requireTool } from '../support/tools.js';

const fast: RetryPolicy = { retries: 3, minDelayMs: 1, maxDelayMs: 5, maxTotalMs: 10_000 };
const classify = (err: unknown): { retry: boolean } => ({ retry: isRetryableNetworkError(err) });


/** One GET to `url`, counting calls; resolves with the status. */
function getter(url: string): { op: () => Promise<number>; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    op: () =>
      new Promise<number>((resolve, reject) => {
        calls++;
        const req = http.get(url, { agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      }),
  };
}

let server: http.Server;
let serverUrl: string;

beforeAll(async () => {
  server = http.createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  serverUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
beforeEach(() => resetEndpointHealth());

describe('unreachable endpoints', () => {
  it('an endpoint never reached that refuses the connection fails at once, without retries', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const g = getter(url);
    const retried: number[] = [];
    const down: unknown[] = [];
    await expect(
      withRetry(g.op, { policy: fast, classify, endpoint: url, onRetry: ({ attempt }) => retried.push(attempt), onEndpointDown: (e) => down.push(e) }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(g.calls()).toBe(1);
    expect(retried).toEqual([]);
    // A lone failure says nothing more than its own error.
    expect(down).toEqual([]);
  });

  it('once found down, later requests fail without being sent, with the reason and when it is tried again', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    await expect(withRetry(getter(url).op, { policy: fast, classify, endpoint: url })).rejects.toBeDefined();
    const down: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      const g = getter(url);
      const err = await withRetry(g.op, { policy: fast, classify, endpoint: url, onEndpointDown: (e) => down.push(e) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EndpointDownError);
      expect(g.calls()).toBe(0);
      expect(networkProblem(err, url)).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused .*; not retried: unreachable for the last \d+ s, next attempt in \d+ s$/);
    }
    // Said once, at the first request refused for it; not again for every request.
    expect(down).toHaveLength(1);
    expect(down[0]).toBeInstanceOf(EndpointDownError);
  });

  it('an endpoint that answered before gets the full retry policy (a server restarting), then is marked down', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const srv = http.createServer((_q, r) => r.end('ok'));
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    expect(await withRetry(getter(url).op, { policy: fast, classify, endpoint: url })).toBe(200);
    await new Promise((r) => srv.close(r));
    const g = getter(url);
    await expect(withRetry(g.op, { policy: fast, classify, endpoint: url })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(g.calls()).toBe(1 + fast.retries);
    const after = getter(url);
    await expect(withRetry(after.op, { policy: fast, classify, endpoint: url })).rejects.toBeInstanceOf(EndpointDownError);
    expect(after.calls()).toBe(0);
  });

  it('lets one probe through after the pause, and is up again when it succeeds', () => {
    const h = new EndpointHealth(serverUrl);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return (async () => {
      expect((await h.failed(refused, false)).stop).toBe(true);
      const t0 = Date.now();
      expect(() => h.admit(t0 + 1000)).toThrow(EndpointDownError);
      expect(h.admit(t0 + REPROBE_MS + 1)).toEqual({ probe: true });
      // Only one probe at a time; the others still fail at once.
      expect(() => h.admit(t0 + REPROBE_MS + 2)).toThrow(EndpointDownError);
      // A probe that never reports back (its request was aborted) does not keep the endpoint down for good.
      expect(h.admit(t0 + 2 * REPROBE_MS + 2)).toEqual({ probe: true });
      h.succeeded();
      expect(h.admit(t0 + REPROBE_MS + 3)).toEqual({ probe: false });
      // A failed probe marks it down again at once, with no retries.
      expect((await h.failed(refused, false)).stop).toBe(false);
      h.gaveUp(refused);
      expect(() => h.admit()).toThrow(EndpointDownError);
      expect(h.admit(Date.now() + REPROBE_MS + 1)).toEqual({ probe: true });
      expect((await h.failed(refused, true)).stop).toBe(true);
      expect(() => h.admit(Date.now() + 1000)).toThrow(EndpointDownError);
    })();
  });

  it('a healthy endpoint is not affected', async () => {
    const g = getter(serverUrl);
    for (let i = 0; i < 5; i++) expect(await withRetry(g.op, { policy: fast, classify, endpoint: serverUrl })).toBe(200);
    expect(g.calls()).toBe(5);
  });
});

describe('plain http to a TLS port', () => {
  let dir: string;
  let tls: https.Server;
  let port: number;
  beforeAll(async () => {
    requireTool('openssl', 'apt-get install -y openssl');
    dir = mkdtempSync(join(tmpdir(), 'annexd-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    tls = https.createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (_q, r) => r.end('ok'));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    port = (tls.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((r) => tls.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is named with the https:// URL to use, after one attempt', async () => {
    const url = `http://127.0.0.1:${port}`;
    const g = getter(url);
    const err = await withRetry(g.op, { policy: fast, classify, endpoint: url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlainHttpToTlsError);
    expect(g.calls()).toBe(1);
    expect(networkProblem(err, url)).toBe(
      `cannot talk to ${url}: ${url} speaks https on this port, and plain http was sent: use https://127.0.0.1:${port} instead`,
    );
    // And the next request is not sent at all, with the same advice.
    const again = getter(url);
    const err2 = await withRetry(again.op, { policy: fast, classify, endpoint: url }).catch((e: unknown) => e);
    expect(again.calls()).toBe(0);
    expect(networkProblem(err2, url)).toMatch(/use https:\/\/127\.0\.0\.1:\d+ instead$/);
  });
});

/**
 * The proxy as a wide-area link (issue 14.1): latency each way, a handshake's
 * round trip per new connection, bandwidth caps per connection and in total,
 * requests counted by method; bytes pass unchanged. Real sockets, a real
 * node:http server. The assertions are lower bounds the shaping must cause,
 * not limits on how fast anything runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withFaultProxy } from '../support/fault-proxy.js';

const BLOB = randomBytes(2 * 1024 * 1024);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
let server: http.Server;
let target: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/blob') {
        res.writeHead(200, { 'content-length': BLOB.length });
        res.end(req.method === 'HEAD' ? undefined : BLOB);
        return;
      }
      const answer = sha(Buffer.concat(chunks));
      res.writeHead(200, { 'content-length': answer.length });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

/** One request on `agent`; resolves with the body and the milliseconds it took. */
function request(url: string, agent: http.Agent, method = 'GET', body?: Buffer): Promise<{ body: Buffer; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('network shaping', () => {
  it('adds the latency each way, and a round trip for a new connection', async () => {
    await withFaultProxy({ target, latencyMs: 60 }, async (proxy) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const first = await request(`${proxy.url}/echo`, agent, 'PUT', Buffer.from('x'));
      const second = await request(`${proxy.url}/echo`, agent, 'PUT', Buffer.from('y'));
      agent.destroy();
      // Handshake (2 x 60) + request (60) + answer (60); then, on the kept connection, 60 + 60.
      expect(first.ms).toBeGreaterThanOrEqual(235);
      expect(second.ms).toBeGreaterThanOrEqual(115);
      expect(second.ms).toBeLessThan(first.ms);
      expect(proxy.connections).toBe(1);
      expect(second.body.toString()).toBe(sha(Buffer.from('y')));
    });
  });

  it('caps each connection\'s bandwidth, and passes every byte unchanged', async () => {
    await withFaultProxy({ target, bytesPerSecond: 4 * 1024 * 1024 }, async (proxy) => {
      const agent = new http.Agent({ keepAlive: true });
      const down = await request(`${proxy.url}/blob`, agent);
      const up = await request(`${proxy.url}/echo`, agent, 'PUT', BLOB);
      agent.destroy();
      expect(sha(down.body)).toBe(sha(BLOB));
      expect(up.body.toString()).toBe(sha(BLOB));
      // 2 MiB at 4 MiB/s: at least half a second each way.
      expect(down.ms).toBeGreaterThanOrEqual(480);
      expect(up.ms).toBeGreaterThanOrEqual(480);
    });
  });

  it('caps the total over parallel connections', async () => {
    const parallel = async (totalBytesPerSecond: number): Promise<number> =>
      withFaultProxy({ target, totalBytesPerSecond }, async (proxy) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
        const t0 = performance.now();
        const got = await Promise.all([1, 2, 3, 4].map(() => request(`${proxy.url}/blob`, agent)));
        agent.destroy();
        for (const g of got) expect(sha(g.body)).toBe(sha(BLOB));
        expect(proxy.connections).toBe(4);
        return performance.now() - t0;
      });
    // 8 MiB in all: at 8 MiB/s in total at least a second.
    expect(await parallel(8 * 1024 * 1024)).toBeGreaterThanOrEqual(980);
  });

  it('counts requests by method', async () => {
    await withFaultProxy({ target, latencyMs: 5 }, async (proxy) => {
      const agent = new http.Agent({ keepAlive: true });
      await request(`${proxy.url}/blob`, agent, 'HEAD');
      await request(`${proxy.url}/blob`, agent, 'HEAD');
      await request(`${proxy.url}/echo`, agent, 'PUT', Buffer.from('z'));
      await request(`${proxy.url}/blob`, agent);
      agent.destroy();
      expect(proxy.counts()).toEqual({ HEAD: 2, PUT: 1, GET: 1 });
    });
  });
});

/**
 * The fault proxy itself, in front of a tiny node:http server: clean requests
 * pass unchanged over kept-alive connections, and every kind of fault
 * actually happens, to the request it was planned for.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULTS, startFaultProxy, withFaultProxy, type FaultProxy, type FaultProxyOptions } from '../support/fault-proxy.js';

const BLOB = Buffer.alloc(1024 * 1024, 0);
for (let i = 0; i < BLOB.length; i++) BLOB[i] = (i * 7 + (i >> 10)) & 0xff;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What the server saw. */
const seen = { requests: 0, connections: 0, aborted: [] as number[] };
let server: http.Server;
let target: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.requests++;
    const chunks: Buffer[] = [];
    let complete = false;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      complete = true;
      const body = Buffer.concat(chunks);
      if (req.url === '/blob') {
        res.writeHead(200, { 'content-length': BLOB.length });
        res.end(req.method === 'HEAD' ? undefined : BLOB);
      } else if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        for (let i = 0; i < 50; i++) res.write(`line ${i}\n`);
        res.end();
      } else {
        const answer = JSON.stringify({ length: body.length, sha: sha(body) });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
        res.end(answer);
      }
    });
    req.on('close', () => {
      if (!complete) seen.aborted.push(Buffer.concat(chunks).length);
    });
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface Reply {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body: Buffer;
  error?: Error;
}

/** One request through the proxy; never throws: a cut shows as `error` with the bytes that did arrive. */
function call(
  proxy: FaultProxy,
  agent: http.Agent,
  method: string,
  path: string,
  options: { body?: Buffer; chunked?: boolean; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let status: number | undefined;
    let headers: http.IncomingHttpHeaders | undefined;
    const done = (error?: Error): void => resolve({ status, headers, body: Buffer.concat(received), error });
    const headersOut: Record<string, string> = { ...options.headers };
    if (options.body && !options.chunked) headersOut['content-length'] = String(options.body.length);
    const req = http.request(`${proxy.url}${path}`, { method, agent, headers: headersOut }, (res) => {
      status = res.statusCode;
      headers = res.headers;
      res.on('data', (c: Buffer) => received.push(c));
      res.on('end', () => done());
      res.on('error', done);
    });
    req.on('error', done);
    const send = (): void => {
      if (options.chunked && options.body) {
        for (let i = 0; i < options.body.length; i += 100_000) req.write(options.body.subarray(i, i + 100_000));
        req.end();
      } else req.end(options.body);
    };
    if (options.headers?.expect) req.on('continue', send);
    else send();
  });
}

async function withProxy(options: Omit<FaultProxyOptions, 'target'>, fn: (proxy: FaultProxy, agent: http.Agent) => Promise<void>): Promise<void> {
  await withFaultProxy({ target, ...options }, async (proxy) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await fn(proxy, agent);
    } finally {
      agent.destroy();
    }
  });
}

const upload = Buffer.concat([BLOB, BLOB]);
const uploadAnswer = JSON.stringify({ length: upload.length, sha: sha(upload) });

describe('fault proxy', () => {
  it('passes clean requests through unchanged on one kept-alive connection', async () => {
    await withProxy({}, async (proxy, agent) => {
      const connections = seen.connections;
      const blob = await call(proxy, agent, 'GET', '/blob');
      expect(blob.status).toBe(200);
      expect(blob.body.equals(BLOB)).toBe(true);
      expect((await call(proxy, agent, 'HEAD', '/blob')).headers?.['content-length']).toBe(String(BLOB.length));
      expect((await call(proxy, agent, 'PUT', '/echo', { body: upload })).body.toString()).toBe(uploadAnswer);
      expect((await call(proxy, agent, 'PUT', '/echo', { body: upload, chunked: true })).body.toString()).toBe(uploadAnswer);
      const continued = await call(proxy, agent, 'PUT', '/echo', { body: upload, headers: { expect: '100-continue' } });
      expect(continued.body.toString()).toBe(uploadAnswer);
      const chunked = await call(proxy, agent, 'GET', '/chunked');
      expect(chunked.body.toString()).toBe(Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(''));
      expect(seen.connections - connections).toBe(1);
      expect(proxy.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        'GET /blob 200',
        'HEAD /blob 200',
        'PUT /echo 200',
        'PUT /echo 200',
        'PUT /echo 200',
        'GET /chunked 200',
      ]);
      expect(Object.values(proxy.injected).every((n) => n === 0)).toBe(true);
    });
  });

  it('answers 429 and 503 with Retry-After, and 500, itself, keeping the connection', async () => {
    const plan = (['429', '503', '500'] as const).map((fault) => ({ fault, match: (r: { path: string }) => r.path === '/blob' }));
    await withProxy({ plan, retryAfterSeconds: 2 }, async (proxy, agent) => {
      const requests = seen.requests;
      const connections = seen.connections;
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await call(proxy, agent, 'GET', '/blob'));
      expect(answers.map((a) => a.status)).toEqual([429, 503, 500, 200]);
      expect(answers.map((a) => a.headers?.['retry-after'])).toEqual(['2', '2', undefined, undefined]);
      expect(answers[3]?.body.equals(BLOB)).toBe(true);
      expect(seen.requests - requests).toBe(1);
      expect(seen.connections - connections).toBe(1);
      expect(proxy.injected).toMatchObject({ '429': 1, '503': 1, '500': 1 });
    });
  });

  it('strikes every n-th matching request after skipping some, as often as planned', async () => {
    await withProxy({ plan: [{ fault: '500', skip: 1, every: 3, times: 2 }] }, async (proxy, agent) => {
      const statuses = [];
      for (let i = 0; i < 10; i++) statuses.push((await call(proxy, agent, 'GET', '/chunked')).status);
      expect(statuses).toEqual([200, 200, 200, 500, 200, 200, 500, 200, 200, 200]);
    });
  });

  it('answers an upload itself: after dropping its body, or at once when the client waits for 100 Continue', async () => {
    const plan = [{ fault: '503' as const, times: 2 }];
    await withProxy({ plan }, async (proxy, agent) => {
      const requests = seen.requests;
      expect((await call(proxy, agent, 'PUT', '/echo', { body: upload })).status).toBe(503);
      const waiting = await call(proxy, agent, 'PUT', '/echo', { body: upload, headers: { expect: '100-continue' } });
      expect(waiting.status).toBe(503);
      expect(waiting.headers?.connection).toBe('close');
      expect((await call(proxy, agent, 'PUT', '/echo', { body: upload })).body.toString()).toBe(uploadAnswer);
      expect(seen.requests - requests).toBe(1);
      expect(proxy.injected['503']).toBe(2);
    });
  });

  it('cuts a response in its body, and a bodiless one in its head', async () => {
    const plan = [
      { fault: 'cut-response' as const, match: (r: { method: string }) => r.method === 'GET', atByte: 300_000 },
      { fault: 'cut-response' as const, match: (r: { method: string }) => r.method === 'HEAD' },
    ];
    await withProxy({ plan }, async (proxy, agent) => {
      const cut = await call(proxy, agent, 'GET', '/blob');
      expect(cut.error).toBeDefined();
      expect(cut.body.length).toBeLessThanOrEqual(300_000);
      expect(BLOB.subarray(0, cut.body.length).equals(cut.body)).toBe(true);
      expect((await call(proxy, agent, 'HEAD', '/blob')).error).toBeDefined();
      // The next request is served normally, on a new connection.
      expect((await call(proxy, agent, 'GET', '/blob')).body.equals(BLOB)).toBe(true);
      expect(proxy.injected['cut-response']).toBe(2);
      expect(proxy.requests.map((r) => r.where)).toEqual(['response body', 'response head', undefined]);
    });
  });

  it('cuts an upload in its body: the server sees an incomplete request', async () => {
    const plan = [{ fault: 'cut-request' as const, atByte: 1024 * 1024 }];
    await withProxy({ plan }, async (proxy, agent) => {
      const aborted = seen.aborted.length;
      const cut = await call(proxy, agent, 'PUT', '/echo', { body: upload });
      expect(cut.error).toBeDefined();
      expect(cut.status).toBeUndefined();
      // The server's close event may trail the client's error by a moment.
      for (let i = 0; i < 100 && seen.aborted.length === aborted; i++) await new Promise((r) => setTimeout(r, 20));
      expect(seen.aborted.slice(aborted)).toHaveLength(1);
      expect(seen.aborted.at(-1)).toBeLessThanOrEqual(1024 * 1024);
      expect((await call(proxy, agent, 'PUT', '/echo', { body: upload })).body.toString()).toBe(uploadAnswer);
      expect(proxy.injected['cut-request']).toBe(1);
      expect(proxy.requests[0]?.where).toBe('request body');
    });
  });

  it('stalls a download and an upload mid-stream, then goes on intact', async () => {
    const plan = [
      { fault: 'stall' as const, match: (r: { method: string }) => r.method === 'GET', atByte: 100_000, stallMs: 500 },
      { fault: 'stall' as const, match: (r: { method: string }) => r.method === 'PUT', atByte: 100_000, stallMs: 500 },
    ];
    await withProxy({ plan }, async (proxy, agent) => {
      let start = Date.now();
      expect((await call(proxy, agent, 'GET', '/blob')).body.equals(BLOB)).toBe(true);
      expect(Date.now() - start).toBeGreaterThanOrEqual(450);
      start = Date.now();
      expect((await call(proxy, agent, 'PUT', '/echo', { body: upload })).body.toString()).toBe(uploadAnswer);
      expect(Date.now() - start).toBeGreaterThanOrEqual(450);
      expect(proxy.injected.stall).toBe(2);
      expect(proxy.requests.map((r) => r.where)).toEqual(['response body', 'request body']);
    });
  });

  it('holds a stall until a promise settles, then the body goes on intact', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    await withProxy({ plan: [{ fault: 'stall', match: (r) => r.method === 'GET', atByte: 100_000, until: released }] }, async (proxy, agent) => {
      let done = false;
      const pending = call(proxy, agent, 'GET', '/blob').finally(() => (done = true));
      while (proxy.injected.stall === 0) await new Promise((r) => setTimeout(r, 10));
      // Held with no time limit: still pending well after the default stall would have ended.
      await new Promise((r) => setTimeout(r, 1200));
      expect(done).toBe(false);
      release();
      expect((await pending).body.equals(BLOB)).toBe(true);
      expect(proxy.requests[0]?.offset).toBe(100_000);
    });
  });

  it('ends a stall when stopped', async () => {
    const proxy = await startFaultProxy({ target, plan: [{ fault: 'stall', stallMs: 600_000 }] });
    const agent = new http.Agent({ keepAlive: true });
    const pending = call(proxy, agent, 'GET', '/blob');
    while (proxy.injected.stall === 0) await new Promise((r) => setTimeout(r, 10));
    await proxy.stop();
    expect((await pending).error).toBeDefined();
    agent.destroy();
  });

  it('draws faults from a seeded schedule: the same seed gives the same faults, each kind at its rate', async () => {
    const rates = Object.fromEntries(FAULTS.map((f) => [f, 0.08]));
    const run = async (seed: number): Promise<Array<string | undefined>> => {
      let faults: Array<string | undefined> = [];
      await withProxy({ rates, seed, stallMs: 1, maxConsecutive: 2 }, async (proxy, agent) => {
        for (let i = 0; i < 300; i++) await call(proxy, agent, 'PUT', '/echo', { body: BLOB.subarray(0, 2000) });
        faults = proxy.requests.map((r) => r.fault);
        for (const f of FAULTS) expect(proxy.injected[f], f).toBeGreaterThan(5);
        expect(Object.values(proxy.injected).reduce((a, b) => a + b)).toBe(faults.filter(Boolean).length);
      });
      return faults;
    };
    const first = await run(7);
    expect(await run(7)).toEqual(first);
    expect(await run(8)).not.toEqual(first);
    // Never more than maxConsecutive faults in a row on one target.
    const streaks = first.map((f) => (f ? 'x' : '.')).join('');
    expect(streaks).not.toContain('xxx');
  });
});

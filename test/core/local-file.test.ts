/** Writing downloads at an offset: a cut connection keeps every byte that arrived, so the resume starts after them. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFrom } from '../../src/remotes/core/local-file.js';

const SENT = 700_000;
const content = Buffer.alloc(2 * 1024 * 1024);
for (let i = 0; i < content.length; i++) content[i] = (i * 31 + (i >> 12)) & 0xff;

let dir: string;
let server: http.Server;
let pool: Pool;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'annexd-local-file-'));
  // Announces the whole content, sends SENT bytes, then closes the connection.
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': content.length });
    res.write(content.subarray(0, SENT));
    res.socket?.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  await pool.close();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('writeFrom', () => {
  it('writes every byte that arrived before the connection was cut, then fails', async () => {
    // Repeated: what is lost without care depends on how the bytes and the close fall into reads.
    for (let i = 0; i < 20; i++) {
      const file = join(dir, `cut-${i}`);
      const res = await pool.request({ method: 'GET', path: '/' });
      let counted = 0;
      await expect(writeFrom(Buffer.from(file), 0, res.body, (n) => (counted += n))).rejects.toMatchObject({
        code: 'UND_ERR_SOCKET',
      });
      const written = await readFile(file);
      expect(written.length).toBe(SENT);
      expect(written.equals(content.subarray(0, SENT))).toBe(true);
      expect(counted).toBe(SENT);
    }
  });

  it('writes from an offset, dropping what followed it', async () => {
    const file = join(dir, 'offset');
    await writeFile(file, Buffer.from('keep-this|and drop this'));
    const n = await writeFrom(Buffer.from(file), 10, Readable.from([Buffer.from('new'), Buffer.from(' tail')]), () => undefined);
    expect(n).toBe(8);
    expect(await readFile(file, 'utf8')).toBe('keep-this|new tail');
  });

  it('stops when aborted', async () => {
    const file = join(dir, 'aborted');
    const ac = new AbortController();
    const source = new Readable({ read() {} });
    const writing = writeFrom(Buffer.from(file), 0, source, () => ac.abort(new Error('stop')), ac.signal);
    source.push(Buffer.from('some bytes'));
    await expect(writing).rejects.toThrow('stop');
    expect(source.destroyed).toBe(true);
  });
});

describe('writeFrom with undici and servers that close after the body', () => {
  // undici 7 crashes the process (an uncatchable assertion, nodejs/undici#5360) when a
  // "Connection: close" body ends while its parser is paused by a slow consumer. A stream
  // pipeline into a file pauses it all the time; writeFrom reads eagerly and must not.
  it('downloads complete bodies from an HTTP/1.0-style server without crashing', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 7);
    const closing = net.createServer((sock) => {
      sock.once('data', () => {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        sock.end(body);
      });
    });
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    const agent = new Agent();
    try {
      const url = `http://127.0.0.1:${(closing.address() as AddressInfo).port}/`;
      for (let i = 0; i < 10; i++) {
        const res = await request(url, { dispatcher: agent });
        const file = join(dir, `closing-${i}.bin`);
        expect(await writeFrom(Buffer.from(file), 0, res.body, () => undefined)).toBe(body.length);
        expect((await readFile(file)).equals(body)).toBe(true);
      }
    } finally {
      await agent.close();
      await new Promise((resolve) => closing.close(resolve));
    }
  });
});

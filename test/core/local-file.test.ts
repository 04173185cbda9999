/** Writing downloads at an offset: a cut connection keeps every byte that arrived, so the resume starts after them. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
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

/**
 * The OSF-compatible server itself, through real HTTP requests: the shapes
 * and statuses of the wire reference (osf-api.md) that clients depend on.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OSF_USER_EMAIL, startOsfServer, type OsfServer } from '../../src/demo/osf-server.js';

// Test-only: reading JSON answers field by field.
type Json = Record<string, any>;

let dir: string;
let srv: OsfServer;
const auth = (): Record<string, string> => ({ authorization: `Bearer ${srv.token}` });

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = auth()): Promise<{ status: number; json: Json; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body !== undefined && !(body instanceof Buffer) ? { 'content-type': 'application/vnd.api+json' } : {}) },
    body: body === undefined ? undefined : body instanceof Buffer ? body : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
}

async function newNode(server: OsfServer = srv, title = 'test'): Promise<Json> {
  const r = await fetch(`${server.api}nodes/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ data: { type: 'nodes', attributes: { title, category: 'data' } } }),
  });
  expect(r.status).toBe(201);
  return ((await r.json()) as Json).data as Json;
}

/** The osfstorage provider entry of a node, found through the node's links as clients do. */
async function storage(node: Json): Promise<Json> {
  const providers = await call('GET', node.relationships.files.links.related.href);
  expect(providers.status).toBe(200);
  return providers.json.data.find((p: Json) => p.attributes.provider === 'osfstorage') as Json;
}

async function upload(link: string, name: string, content: Buffer): Promise<{ status: number; json: Json }> {
  const u = new URL(link);
  u.searchParams.set('kind', 'file');
  u.searchParams.set('name', name);
  return call('PUT', u.toString(), content);
}

/** Every entry of a listing, following links.next; also the number of pages. */
async function listAll(url: string): Promise<{ items: Json[]; pages: number }> {
  const items: Json[] = [];
  let pages = 0;
  for (let next: string | null = url; next; pages++) {
    const r = await call('GET', next);
    expect(r.status).toBe(200);
    items.push(...(r.json.data as Json[]));
    expect(r.json.links).toHaveProperty('next');
    next = r.json.links.next as string | null;
  }
  return { items, pages };
}

/** A raw request, for what fetch cannot send: no Content-Length, or a body cut short. */
function raw(method: string, url: string, headers: Record<string, string>, write: (req: import('node:http').ClientRequest) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { ...auth(), ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => (req.destroyed ? resolve(-1) : reject(err)));
    write(req);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'annexd-osf-server-'));
  srv = await startOsfServer({ directory: join(dir, 'data'), maxFileSize: 1000, quota: 5000 });
});
afterAll(async () => {
  await srv?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('authentication', () => {
  it('answers users/me for the token, and 401 with WWW-Authenticate without it or with another', async () => {
    const me = await call('GET', `${srv.api}users/me/`);
    expect(me.status).toBe(200);
    expect(me.json.data.type).toBe('users');
    expect(me.json.data.attributes.full_name).toEqual(expect.any(String));
    expect(me.json.meta.version).toBe('2.0');
    for (const headers of [{}, { authorization: "Bearer not-the-token" }] as Array<Record<string, string>>) {
      const r = await call('GET', `${srv.api}users/me/`, undefined, headers);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Documentation realm="api"');
      expect(r.json.errors[0].detail).toMatch(/credentials were not provided|invalid OAuth2 access token/);
    }
  });

  it('accepts Basic auth with the user\'s email and password when a password is set, and nothing else', async () => {
    const withPassword = await startOsfServer({ directory: join(dir, 'basic'), password: 'pw-1234' });
    try {
      const basic = (user: string, pw: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });
      expect((await fetch(`${withPassword.api}users/me/`, { headers: basic(OSF_USER_EMAIL, 'pw-1234') })).status).toBe(200);
      const wrong = await fetch(`${withPassword.api}users/me/`, { headers: basic(OSF_USER_EMAIL, 'nope') });
      expect(wrong.status).toBe(401);
      expect((((await wrong.json()) as Json).errors[0] as Json).detail).toBe('Invalid username/password.');
    } finally {
      await withPassword.close();
    }
    expect((await call('GET', `${srv.api}users/me/`, undefined, { authorization: `Basic ${Buffer.from(`${OSF_USER_EMAIL}:`).toString('base64')}` })).status).toBe(401);
  });

  it('keeps private nodes from anonymous readers, on the API (401) and WaterButler (403)', async () => {
    const node = await newNode();
    const anon = await call('GET', node.links.self, undefined, {});
    expect(anon.status).toBe(401);
    const st = await storage(node);
    expect((await call('GET', st.links.upload, undefined, {})).status).toBe(403);
    expect((await call('GET', st.links.upload, undefined, { authorization: 'Bearer wrong' })).status).toBe(403);
    expect((await call('GET', st.links.upload)).status).toBe(200);
  });
});

describe('nodes', () => {
  it('are created, read through guids, patched and deleted, with the keys osfclient reads', async () => {
    const node = await newNode(srv, 'my-dataset');
    expect(node.id).toMatch(/^[a-z0-9]{5}$/);
    for (const k of ['title', 'date_created', 'date_modified', 'description', 'category', 'public', 'tags']) expect(node.attributes).toHaveProperty(k);
    expect(node.links.html).toEqual(expect.any(String));
    const viaGuid = await call('GET', `${srv.api}guids/${node.id}/`);
    expect(viaGuid.status).toBe(302);
    expect(viaGuid.headers.get('location')).toBe(node.links.self);
    const patched = await call('PATCH', node.links.self, { data: { type: 'nodes', id: node.id, attributes: { description: 'clone with osf://x' } } });
    expect(patched.status).toBe(200);
    expect(patched.json.data.attributes).toMatchObject({ description: 'clone with osf://x', title: 'my-dataset' });
    const mismatch = await call('PATCH', node.links.self, { data: { type: 'nodes', id: 'zzzzz', attributes: {} } });
    expect(mismatch.status).toBe(409);
    const child = await call('POST', `${node.links.self}children/`, { data: { type: 'nodes', attributes: { title: 'sub', category: 'data' } } });
    expect(child.status).toBe(201);
    expect((await call('DELETE', node.links.self)).status).toBe(204);
    expect((await call('GET', node.links.self)).status).toBe(410);
    expect((await call('GET', `${srv.api}nodes/nope0/`)).status).toBe(404);
  });

  it('refuses bodies OSF refuses: no title or category (400 with pointers), another type (409), no data (400)', async () => {
    const missing = await call('POST', `${srv.api}nodes/`, { data: { type: 'nodes', attributes: {} } });
    expect(missing.status).toBe(400);
    expect(missing.json.errors.map((e: Json) => e.source.pointer).sort()).toEqual(['/data/attributes/category', '/data/attributes/title']);
    expect((await call('POST', `${srv.api}nodes/`, { data: { type: 'users', attributes: { title: 't', category: 'data' } } })).status).toBe(409);
    expect((await call('POST', `${srv.api}nodes/`, { nodata: 1 })).status).toBe(400);
    expect((await call('POST', `${srv.api}nodes/`, { data: { type: 'nodes', attributes: { title: 't', category: 'bogus' } } })).status).toBe(400);
    expect((await call('POST', `${srv.api}nodes/`, { data: { type: 'nodes', attributes: { title: 't', category: 'data' } } }, {})).status).toBe(401);
  });

  it('redirects a URL without its trailing slash to the canonical one', async () => {
    const r = await call('GET', `${srv.api}users/me`);
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe(`${srv.api}users/me/`);
  });
});

describe('files', () => {
  it('uploads through the links, with hashes; a second upload of the name is 409 carrying the file; an update bumps the version', async () => {
    const node = await newNode();
    const st = await storage(node);
    for (const k of ['upload', 'new_folder']) expect(st.links[k]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/resources\//);
    expect(new URL(st.links.upload).port).toBe(String(srv.wbPort));
    const body = Buffer.from('hello');
    const up = await upload(st.links.upload, 'MD5E-s5--x.txt', body);
    expect(up.status).toBe(201);
    const wb = up.json.data;
    expect(wb.attributes).toMatchObject({ kind: 'file', name: 'MD5E-s5--x.txt', materialized: '/MD5E-s5--x.txt', size: 5, sizeInt: 5 });
    expect(wb.attributes.extra.hashes).toEqual({
      md5: createHash('md5').update(body).digest('hex'),
      sha256: createHash('sha256').update(body).digest('hex'),
    });
    expect(wb.attributes.extra.version).toBe(1);
    expect(wb.links.upload).toMatch(/\?kind=file$/);
    const again = await upload(st.links.upload, 'MD5E-s5--x.txt', body);
    expect(again.status).toBe(409);
    expect(again.json.message).toMatch(/already exists/);
    expect(again.json.data.links.upload).toBe(wb.links.upload);
    const update = await call('PUT', wb.links.upload, Buffer.from('world'));
    expect(update.status).toBe(200);
    expect(update.json.data.attributes.extra.version).toBe(2);
    const same = await call('PUT', wb.links.upload, Buffer.from('world'));
    expect(same.json.data.attributes.extra.version).toBe(2);
    const listed = (await listAll(st.relationships.files.links.related.href)).items;
    expect(listed).toHaveLength(1);
    const entry = listed[0]!;
    for (const k of ['guid', 'name', 'kind', 'path', 'materialized_path', 'size', 'current_version', 'date_created', 'date_modified', 'extra']) expect(entry.attributes).toHaveProperty(k);
    for (const k of ['info', 'self', 'move', 'upload', 'delete', 'download', 'html']) expect(entry.links).toHaveProperty(k);
    expect(entry.attributes).toMatchObject({ current_version: 2, size: 5, path: `/${entry.id}`, materialized_path: '/MD5E-s5--x.txt' });
    expect(entry.attributes.extra.hashes.md5).toBe(createHash('md5').update('world').digest('hex'));
    expect(entry.links.upload).not.toMatch(/\?/);
    const got = await fetch(entry.links.upload, { headers: auth() });
    expect(got.headers.get('content-length')).toBe('5');
    expect(await got.text()).toBe('world');
    const ranged = await fetch(entry.links.upload, { headers: { ...auth(), range: 'bytes=2-' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 2-4/5');
    expect(await ranged.text()).toBe('rld');
    const meta = await call('GET', `${entry.links.upload}?meta=`);
    expect(meta.json.data.id).toBe(`osfstorage/${entry.id}`);
    expect((await call('DELETE', entry.links.delete)).status).toBe(204);
    expect((await call('GET', entry.links.upload)).status).toBe(404);
  });

  it('pages listings by 10, or by page[size] up to 100, with links.next null at the end, and filters by name', async () => {
    const node = await newNode();
    const st = await storage(node);
    const names = Array.from({ length: 105 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    for (const n of names) expect((await upload(st.links.upload, n, Buffer.from(n))).status).toBe(201);
    const href = st.relationships.files.links.related.href as string;
    const byTen = await listAll(href);
    expect(byTen.pages).toBe(11);
    expect(byTen.items.map((e) => e.attributes.name)).toEqual(names);
    const first = await call('GET', href);
    expect(first.json.links.meta).toEqual({ total: 105, per_page: 10 });
    expect(first.json.links.prev).toBeNull();
    expect((await listAll(`${href}?page[size]=100`)).pages).toBe(2);
    expect((await call('GET', `${href}?page[size]=500`)).json.data).toHaveLength(100);
    expect((await call('GET', `${href}?page=99`)).status).toBe(404);
    const exact = await call('GET', `${href}?filter[name][eq]=f010`);
    expect(exact.json.data.map((e: Json) => e.attributes.name)).toEqual(['f010']);
    const contains = await call('GET', `${href}?filter[name]=F10`);
    expect(contains.json.data.map((e: Json) => e.attributes.name)).toEqual(['f100', 'f101', 'f102', 'f103', 'f104']);
  });

  it('refuses an upload without Content-Length (411) or over the per-file cap (413), and keeps nothing of either', async () => {
    const node = await newNode();
    const st = await storage(node);
    const u = (name: string): string => `${st.links.upload}?kind=file&name=${name}`;
    expect(await raw('PUT', u('chunked'), { 'transfer-encoding': 'chunked' }, (req) => req.end('abc'))).toBe(411);
    const big = await raw('PUT', u('big'), { 'content-length': '1001' }, (req) => req.end(Buffer.alloc(1001)));
    expect([413, -1]).toContain(big);
    expect((await upload(st.links.upload, 'fits', Buffer.alloc(1000))).status).toBe(201);
    const names = (await listAll(st.relationships.files.links.related.href)).items.map((e) => e.attributes.name);
    expect(names).toEqual(['fits']);
  });

  it('never lists a cut upload, and leaves no blob of it', async () => {
    const node = await newNode();
    const st = await storage(node);
    const status = await raw('PUT', `${st.links.upload}?kind=file&name=cut`, { 'content-length': '800' }, (req) => {
      req.write(Buffer.alloc(100));
      setTimeout(() => req.destroy(), 100);
    });
    expect(status).toBe(-1);
    // The server notices the cut when the socket closes; a listing after that must not show it.
    for (let i = 0; i < 50 && (await readdir(join(dir, 'data', 'blobs'))).some((f) => f.startsWith('tmp-')); i++) await new Promise((r) => setTimeout(r, 20));
    expect((await readdir(join(dir, 'data', 'blobs'))).filter((f) => f.startsWith('tmp-'))).toEqual([]);
    expect((await listAll(st.relationships.files.links.related.href)).items).toEqual([]);
  });

  it('answers 507 past the project quota', async () => {
    const node = await newNode();
    const st = await storage(node);
    for (let i = 0; i < 5; i++) expect((await upload(st.links.upload, `q${i}`, Buffer.alloc(1000))).status).toBe(201);
    const over = await upload(st.links.upload, 'q5', Buffer.alloc(1));
    expect(over.status).toBe(507);
    expect(over.json.message).toMatch(/quota/);
  });

  it('makes folders (409 on a taken name), lists them through their links, moves, renames and deletes', async () => {
    const node = await newNode();
    const st = await storage(node);
    const mk = await call('PUT', `${st.links.new_folder}&name=sub`);
    expect(mk.status).toBe(201);
    const folder = mk.json.data;
    expect(folder.attributes).toMatchObject({ kind: 'folder', materialized: '/sub/', path: `/${folder.id.split('/')[1]}/` });
    expect(folder.id).toMatch(/^osfstorage\/[0-9a-f]{24}\/$/);
    expect((await call('PUT', `${st.links.new_folder}&name=sub`)).status).toBe(409);
    const inner = await upload(folder.links.upload, 'a.txt', Buffer.from('a'));
    expect(inner.status).toBe(201);
    expect(inner.json.data.attributes.materialized).toBe('/sub/a.txt');
    const top = await upload(st.links.upload, 'b.txt', Buffer.from('b'));
    const root = await listAll(st.relationships.files.links.related.href);
    const sub = root.items.find((e) => e.attributes.kind === 'folder')!;
    expect(sub.attributes.materialized_path).toBe('/sub/');
    expect(sub.links).not.toHaveProperty('download');
    const subList = await listAll(sub.relationships.files.links.related.href);
    expect(subList.items.map((e) => e.attributes.materialized_path)).toEqual(['/sub/a.txt']);
    // Move b.txt into sub/ as c.txt: 201; a second move onto a taken name: 409, or 200 with conflict=replace.
    const move = await call('POST', top.json.data.links.move, { action: 'move', path: sub.attributes.path, rename: 'c.txt' });
    expect(move.status).toBe(201);
    expect(move.json.data.attributes.materialized).toBe('/sub/c.txt');
    const clash = await call('POST', move.json.data.links.move, { action: 'rename', rename: 'a.txt' });
    expect(clash.status).toBe(409);
    expect((await call('POST', move.json.data.links.move, { action: 'rename', rename: 'a.txt', conflict: 'replace' })).status).toBe(200);
    expect((await call('POST', move.json.data.links.move, { action: 'move', path: 'nofolder' })).status).toBe(400);
    expect((await listAll(sub.relationships.files.links.related.href)).items.map((e) => e.attributes.name)).toEqual(['a.txt']);
    expect((await call('DELETE', sub.links.delete)).status).toBe(204);
    expect((await listAll(st.relationships.files.links.related.href)).items).toEqual([]);
    expect((await call('DELETE', st.links.upload)).status).toBe(400);
    expect((await call('DELETE', `${st.links.upload}?confirm_delete=1`)).status).toBe(204);
  });

  it('keeps its data across a restart on the same directory', async () => {
    const d = join(dir, 'restart');
    const first = await startOsfServer({ directory: d, token: 'restart-token-123' });
    const node = await newNode(first);
    const st = await (async () => {
      const r = await fetch(node.relationships.files.links.related.href, { headers: { authorization: 'Bearer restart-token-123' } });
      return ((await r.json()) as Json).data[0] as Json;
    })();
    const r = await fetch(`${st.links.upload}?kind=file&name=kept`, { method: 'PUT', headers: { authorization: 'Bearer restart-token-123' }, body: 'kept' });
    expect(r.status).toBe(201);
    await first.close();
    const second = await startOsfServer({ directory: d, token: 'restart-token-123', port: first.port, wbPort: first.wbPort });
    try {
      const list = await fetch(`${second.api}nodes/${node.id}/files/osfstorage/`, { headers: { authorization: 'Bearer restart-token-123' } });
      expect(((await list.json()) as Json).data.map((e: Json) => e.attributes.name)).toEqual(['kept']);
    } finally {
      await second.close();
    }
  });
});

describe('limits', () => {
  it('answers 429 with an integer Retry-After past the rate, on both hosts, and counts requests', async () => {
    const d = join(dir, 'rate');
    const limited = await startOsfServer({ directory: d, rateLimit: 5, rateWindowMs: 1000 });
    try {
      const headers = { authorization: `Bearer ${limited.token}` };
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      let detail = '';
      for (let i = 0; i < 8; i++) {
        const r = await fetch(`${limited.api}users/me/`, { headers });
        statuses.push(r.status);
        if (r.status === 429) {
          retryAfter = r.headers.get('retry-after');
          detail = (((await r.json()) as Json).errors[0] as Json).detail as string;
        } else await r.arrayBuffer();
      }
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(statuses.slice(5)).toEqual([429, 429, 429]);
      expect(retryAfter).toMatch(/^[1-9]\d*$/);
      expect(detail).toMatch(/^Request was throttled\. Expected available in \d+ seconds\.$/);
      const wb = await fetch(`${limited.wb}resources/xxxxx/providers/osfstorage/`, { headers });
      expect(wb.status).toBe(429);
      expect(wb.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(limited.stats()).toMatchObject({ requests: 9, throttled: 4 });
    } finally {
      await limited.close();
    }
  });

  it('strikes every Nth request with 429 when told to, and can keep a cut upload as s3rver does', async () => {
    const odd = await startOsfServer({ directory: join(dir, 'odd'), throttleEvery: 5, keepCutUploads: true });
    try {
      const headers = { authorization: `Bearer ${odd.token}` };
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await fetch(`${odd.api}users/me/`, { headers })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429, 200]);
      const node = await newNode(odd);
      const st = ((await (await fetch(node.relationships.files.links.related.href, { headers })).json()) as Json).data[0] as Json;
      const cut = await new Promise<number>((resolve) => {
        const req = httpRequest(`${st.links.upload}?kind=file&name=cut`, { method: 'PUT', headers: { ...headers, 'content-length': '800' } }, () => resolve(0));
        req.on('error', () => resolve(-1));
        req.write(Buffer.alloc(100));
        setTimeout(() => req.destroy(), 100);
      });
      expect(cut).toBe(-1);
      let sizes: number[] = [];
      for (let i = 0; i < 50 && sizes.length === 0; i++) {
        const r = await fetch(`${odd.api}nodes/${node.id}/files/osfstorage/`, { headers });
        if (r.status === 200) sizes = (((await r.json()) as Json).data as Json[]).map((e) => e.attributes.size as number);
        else await r.arrayBuffer();
        await new Promise((res) => setTimeout(res, 20));
      }
      expect(sizes).toEqual([100]);
    } finally {
      await odd.close();
    }
  });

  it('redirects downloads to a signed URL on a storage host when told to, which refuses a token and a bad signature', async () => {
    const red = await startOsfServer({ directory: join(dir, 'redirect'), redirectDownloads: true });
    try {
      const headers = { authorization: `Bearer ${red.token}` };
      const node = await newNode(red);
      const st = ((await (await fetch(node.relationships.files.links.related.href, { headers })).json()) as Json).data[0] as Json;
      const up = await fetch(`${st.links.upload}?kind=file&name=r.txt`, { method: 'PUT', headers, body: 'redirected' });
      const file = ((await up.json()) as Json).data as Json;
      const r = await fetch(file.links.download, { headers, redirect: 'manual' });
      expect(r.status).toBe(302);
      const location = r.headers.get('location')!;
      expect(new URL(location).port).not.toBe(String(red.wbPort));
      expect((await fetch(location, { headers })).status).toBe(400);
      expect(await (await fetch(location)).text()).toBe('redirected');
      expect((await fetch(location, { headers: { range: 'bytes=3-' } })).status).toBe(206);
      expect((await fetch(location.replace(/signature=[0-9a-f]+/, 'signature=bad'))).status).toBe(403);
      expect(await (await fetch(`${file.links.download}?direct=`, { headers })).text()).toBe('redirected');
    } finally {
      await red.close();
    }
  });

  it('adds the configured latency to every answer', async () => {
    const slow = await startOsfServer({ directory: join(dir, 'slow'), latencyMs: 300 });
    try {
      const t0 = performance.now();
      await (await fetch(`${slow.api}users/me/`, { headers: { authorization: `Bearer ${slow.token}` } })).arrayBuffer();
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      await slow.close();
    }
  });
});

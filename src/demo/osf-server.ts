/**
 * An OSF-compatible server for the demo, `annexd dev-server osf` and the
 * tests, built from the documented wire shapes (shared reference osf-api.md):
 * the OSF API v2 (JSON:API, paginated with links.next) on one port and
 * WaterButler v1 (file bodies, folders, moves) on another, as on osf.io where
 * they are different hosts, so a client can only reach WaterButler through
 * the links the API gives it.
 *
 * One user, with a bearer token (and, when a password is set, Basic auth with
 * the user's email and password, which OSF still accepts); nodes created, patched and deleted through
 * the API; osfstorage files and folders with md5/sha256 and versions. Limits
 * as OSF has them, configurable: a per-file cap, a project quota (507), a
 * request rate past which requests get 429 with an integer Retry-After.
 * Files live in `directory` (blobs/ plus state.json), so a restarted server
 * keeps its data. An upload becomes visible only once its body is complete.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

export interface OsfServerOptions {
  directory: string;
  /** Port of the API (0: any free one); WaterButler gets `wbPort`, else any free one. */
  port?: number;
  wbPort?: number;
  /** The user's personal access token; random when not given. */
  token?: string;
  /** The user's password for Basic auth (as email:password, the email being OSF_USER_EMAIL); without it, Basic auth fails. */
  password?: string;
  /** Added before every answer, to play a distant server. */
  latencyMs?: number;
  /** At most this many requests per `rateWindowMs` per client (token, else address); then 429. 0: no limit. */
  rateLimit?: number;
  rateWindowMs?: number;
  /** Every Nth request gets 429 (Retry-After: 1) whatever the rate: a throttle that strikes one request of many at once. */
  throttleEvery?: number;
  /** Per-file cap in bytes (OSF: 5 GB). */
  maxFileSize?: number;
  /** Bytes per node (OSF: 5 GB private, 50 GB public); unset: no quota. */
  quota?: number;
  /**
   * Answer downloads with 302 to a signed, short-lived URL on a separate
   * storage host, as WaterButler does for osfstorage on a cloud backend; the
   * storage host refuses requests that carry an Authorization header.
   */
  redirectDownloads?: boolean;
  /** Keep what arrived of a cut upload as the file (as s3rver keeps a cut PUT), instead of discarding it as WaterButler does. */
  keepCutUploads?: boolean;
  /** Appends one line per request (ms since start, method, host kind, path, status) to this file. */
  requestLog?: string;
}

export interface OsfServerStats {
  /** Requests answered, by status. */
  byStatus: Record<string, number>;
  requests: number;
  throttled: number;
  /** Most requests that arrived within any one second (sliding). */
  maxPerSecond: number;
}

export interface OsfServer {
  /** API base with a trailing slash, e.g. http://127.0.0.1:PORT/v2/ */
  api: string;
  /** WaterButler base, e.g. http://127.0.0.1:PORT/v1/ */
  wb: string;
  port: number;
  wbPort: number;
  token: string;
  userId: string;
  stats(): OsfServerStats;
  /** Every request so far: arrival time (ms since start), method, path, status. */
  requests(): RequestRecord[];
  close(): Promise<void>;
}

export interface RequestRecord {
  at: number;
  method: string;
  host: 'api' | 'wb' | 'storage';
  path: string;
  status: number;
}

/** The email of the server's one user (the Basic auth user name). */
export const OSF_USER_EMAIL = 'dev@annexd.invalid';

/** OSF's documented per-file cap. */
export const OSF_MAX_FILE_SIZE = 5 * 1000 ** 3;

const CATEGORIES = new Set([
  'analysis',
  'communication',
  'data',
  'hypothesis',
  'instrumentation',
  'methods and measures',
  'procedure',
  'project',
  'software',
  'other',
  '',
]);

interface NodeRecord {
  id: string;
  title: string;
  category: string;
  description: string;
  public: boolean;
  tags: string[];
  parent: string | undefined;
  created: string;
  modified: string;
  deleted: boolean;
}

interface EntityRecord {
  id: string;
  node: string;
  kind: 'file' | 'folder';
  name: string;
  /** Folder id, or '' for the root. */
  parent: string;
  size: number;
  md5: string;
  sha256: string;
  version: number;
  created: string;
  modified: string;
}

interface State {
  userId: string;
  nodes: Record<string, NodeRecord>;
  entities: Record<string, EntityRecord>;
}

/** `YYYY-MM-DDTHH:MM:SS.ffffff`, the API 2.0 format (no zone). */
function osfDate(d = new Date()): string {
  return d.toISOString().replace('Z', '').replace(/\.(\d{3})$/, '.$1000');
}

const GUID_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
function guid(): string {
  const b = randomBytes(5);
  return [...b].map((x) => GUID_CHARS[x % GUID_CHARS.length]).join('');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

/** API error: `{"errors":[{"detail":…}],"meta":{"version":"2.0"}}`. */
const apiError = (status: number, detail: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): HttpError =>
  new HttpError(status, { errors: [{ detail, ...extra }], meta: { version: '2.0' } }, headers);

/** WaterButler error: `{"code":N,"message":…}`. */
const wbError = (status: number, message: string): HttpError => new HttpError(status, { code: status, message });

const UNAUTHORIZED_HEADERS = { 'www-authenticate': 'Documentation realm="api"' };

/** A sliding window of arrival times per client, as DRF's throttles keep it. */
class RateLimiter {
  private readonly history = new Map<string, number[]>();
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** undefined when allowed; otherwise the whole seconds to wait. */
  check(client: string, now: number): number | undefined {
    if (this.limit <= 0) return undefined;
    const h = (this.history.get(client) ?? []).filter((t) => t > now - this.windowMs);
    if (h.length >= this.limit) {
      this.history.set(client, h);
      return Math.max(1, Math.ceil((this.windowMs - (now - h[0]!)) / 1000));
    }
    h.push(now);
    this.history.set(client, h);
    return undefined;
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

export async function startOsfServer(options: OsfServerOptions): Promise<OsfServer> {
  const dir = options.directory;
  const blobs = join(dir, 'blobs');
  await mkdir(blobs, { recursive: true });
  const statePath = join(dir, 'state.json');
  const token = options.token ?? randomBytes(53).toString('base64url').replace(/[-_]/g, 'x').slice(0, 70);
  const maxFileSize = options.maxFileSize ?? OSF_MAX_FILE_SIZE;
  const limiter = new RateLimiter(options.rateLimit ?? 0, options.rateWindowMs ?? 1000);
  const started = Date.now();
  const log: RequestRecord[] = [];

  let state: State;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as State;
  } catch {
    state = { userId: guid(), nodes: {}, entities: {} };
  }
  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    const text = JSON.stringify(state);
    saving = saving.then(async () => {
      const tmp = `${statePath}.${randomBytes(4).toString('hex')}`;
      await writeFile(tmp, text);
      await rename(tmp, statePath);
    });
    return saving;
  };

  let apiBase = '';
  let wbBase = '';
  let storageBase = '';
  const blobPath = (e: EntityRecord): string => join(blobs, `${e.id}-${e.version}`);

  // ---------- authentication ----------

  /** undefined: anonymous; throws 401 for a token or password that is not ours. */
  function authenticate(req: IncomingMessage): 'user' | undefined {
    const h = req.headers.authorization;
    if (!h) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (m && m[1] === token) return 'user';
    if (m) throw apiError(401, 'User provided an invalid OAuth2 access token', {}, UNAUTHORIZED_HEADERS);
    const basic = /^Basic\s+(\S+)$/i.exec(h);
    if (basic && options.password !== undefined && Buffer.from(basic[1]!, 'base64').toString('utf8') === `${OSF_USER_EMAIL}:${options.password}`) return 'user';
    throw apiError(401, 'Invalid username/password.', {}, UNAUTHORIZED_HEADERS);
  }

  function liveNode(id: string, who: 'user' | undefined, write: boolean): NodeRecord {
    const n = state.nodes[id];
    if (!n) throw apiError(404, 'Not found.');
    if (n.deleted) throw apiError(410, 'The requested node is no longer available.');
    if (!who && (write || !n.public)) throw apiError(401, 'Authentication credentials were not provided.', {}, UNAUTHORIZED_HEADERS);
    return n;
  }

  // ---------- JSON:API shapes ----------

  const nodeUrl = (id: string): string => `${apiBase}nodes/${id}/`;
  const wbResource = (node: string): string => `${wbBase}resources/${node}/providers/osfstorage/`;
  const entityPath = (e: EntityRecord): string => (e.kind === 'folder' ? `/${e.id}/` : `/${e.id}`);

  function materialized(e: EntityRecord): string {
    const parts: string[] = [];
    for (let cur: EntityRecord | undefined = e; cur; cur = cur.parent ? state.entities[cur.parent] : undefined) {
      parts.unshift(cur.name);
    }
    return `/${parts.join('/')}${e.kind === 'folder' ? '/' : ''}`;
  }

  function nodeJson(n: NodeRecord): unknown {
    const rel = (href: string): unknown => ({ links: { related: { href, meta: {} } } });
    return {
      id: n.id,
      type: 'nodes',
      attributes: {
        title: n.title,
        category: n.category,
        description: n.description,
        public: n.public,
        tags: n.tags,
        date_created: n.created,
        date_modified: n.modified,
        registration: false,
        fork: false,
        preprint: false,
        collection: false,
        current_user_permissions: ['admin', 'write', 'read'],
      },
      relationships: {
        files: rel(`${nodeUrl(n.id)}files/`),
        children: rel(`${nodeUrl(n.id)}children/`),
        root: rel(nodeUrl(n.parent ?? n.id)),
        ...(n.parent ? { parent: rel(nodeUrl(n.parent)) } : {}),
      },
      links: { self: nodeUrl(n.id), html: `${apiBase.replace(/v2\/$/, '')}${n.id}/` },
    };
  }

  function apiEntityJson(e: EntityRecord): unknown {
    const wb = `${wbResource(e.node)}${e.id}${e.kind === 'folder' ? '/' : ''}`;
    const folder = e.kind === 'folder';
    return {
      id: e.id,
      type: 'files',
      attributes: {
        guid: null,
        name: e.name,
        kind: e.kind,
        path: entityPath(e),
        materialized_path: materialized(e),
        provider: 'osfstorage',
        size: folder ? null : e.size,
        current_version: e.version,
        date_created: e.created,
        date_modified: e.modified,
        last_touched: null,
        delete_allowed: true,
        checkout: null,
        tags: [],
        current_user_can_comment: true,
        extra: { hashes: { md5: folder ? null : e.md5, sha256: folder ? null : e.sha256 }, downloads: 0 },
      },
      relationships: {
        ...(folder
          ? { files: { links: { related: { href: `${nodeUrl(e.node)}files/osfstorage/${e.id}/`, meta: {} } } } }
          : { versions: { links: { related: { href: `${apiBase}files/${e.id}/versions/`, meta: {} } } } }),
        node: { links: { related: { href: nodeUrl(e.node), meta: {} } } },
      },
      links: folder
        ? { info: wb, self: wb, move: wb, upload: wb, delete: wb, new_folder: `${wb}?kind=folder` }
        : {
            info: `${apiBase}files/${e.id}/`,
            self: `${apiBase}files/${e.id}/`,
            move: wb,
            upload: wb,
            delete: wb,
            download: wb,
            html: `${apiBase.replace(/v2\/$/, '')}${e.node}/files/osfstorage/${e.id}`,
          },
    };
  }

  function wbEntityJson(e: EntityRecord): unknown {
    const folder = e.kind === 'folder';
    const wb = `${wbResource(e.node)}${e.id}${folder ? '/' : ''}`;
    const when = `${new Date(e.modified + 'Z').toISOString().replace('Z', '')}+00:00`;
    return {
      id: `osfstorage${entityPath(e)}`,
      type: 'files',
      attributes: {
        kind: e.kind,
        name: e.name,
        path: entityPath(e),
        materialized: materialized(e),
        provider: 'osfstorage',
        resource: e.node,
        etag: folder ? null : createHash('sha256').update(`${e.id}${e.version}`).digest('hex'),
        contentType: folder ? null : 'application/octet-stream',
        size: folder ? null : e.size,
        sizeInt: folder ? null : e.size,
        modified: when,
        modified_utc: when,
        created_utc: `${new Date(e.created + 'Z').toISOString().replace('Z', '')}+00:00`,
        extra: folder
          ? {}
          : {
              guid: null,
              version: e.version,
              downloads: 0,
              checkout: null,
              latestVersionSeen: null,
              hashes: { md5: e.md5, sha256: e.sha256 },
            },
      },
      links: folder
        ? { move: wb, delete: wb, upload: `${wb}?kind=file`, new_folder: `${wb}?kind=folder` }
        : { move: wb, upload: `${wb}?kind=file`, delete: wb, download: wb },
    };
  }

  /** A page of a collection in the API 2.0 shape, `links.next` null on the last page. */
  function page(url: URL, items: unknown[]): unknown {
    const sizeParam = url.searchParams.get('page[size]');
    const perPage = Math.min(100, Math.max(1, sizeParam && /^\d+$/.test(sizeParam) ? Number(sizeParam) : 10));
    const pageParam = url.searchParams.get('page') ?? '1';
    const n = /^\d+$/.test(pageParam) ? Number(pageParam) : NaN;
    const last = Math.max(1, Math.ceil(items.length / perPage));
    if (!(n >= 1 && n <= last)) throw apiError(404, 'Invalid page.');
    const link = (p: number): string => {
      const u = new URL(url);
      if (p === 1) u.searchParams.delete('page');
      else u.searchParams.set('page', String(p));
      return u.toString();
    };
    const single = last === 1;
    return {
      data: items.slice((n - 1) * perPage, n * perPage),
      links: {
        first: single ? null : link(1),
        last: single ? null : link(last),
        prev: n > 1 ? link(n - 1) : null,
        next: n < last ? link(n + 1) : null,
        meta: { total: items.length, per_page: perPage },
      },
      meta: { version: '2.0' },
    };
  }

  const children = (node: string, parent: string): EntityRecord[] =>
    Object.values(state.entities)
      .filter((e) => e.node === node && e.parent === parent)
      .sort((a, b) => materialized(a).localeCompare(materialized(b)));

  /** filter[name] (substring, case-insensitive), filter[name][eq], filter[kind], filter[id]. */
  function filtered(url: URL, list: EntityRecord[]): EntityRecord[] {
    let out = list;
    for (const [k, v] of url.searchParams) {
      const m = /^filter\[(\w+)\](?:\[(\w+)\])?$/.exec(k);
      if (!m) continue;
      const field = m[1] as 'name' | 'kind' | 'id';
      if (!['name', 'kind', 'id'].includes(field)) throw apiError(400, `'${field}' is not a valid field for this endpoint.`);
      const op = m[2] ?? (field === 'name' ? 'icontains' : 'eq');
      out = out.filter((e) => (op === 'eq' ? e[field] === v : e[field].toLowerCase().includes(v.toLowerCase())));
    }
    return out;
  }

  // ---------- helpers ----------

  async function readJson(req: IncomingMessage, limit = 1024 * 1024): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req) {
      n += (c as Buffer).length;
      if (n > limit) throw apiError(413, 'Request body too large.');
      chunks.push(c as Buffer);
    }
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* fall through */
    }
    throw apiError(400, 'JSON parse error - Malformed request body.');
  }

  function send(res: ServerResponse, status: number, body: unknown, contentType: string, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      ...(body === undefined ? {} : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) }),
    });
    res.end(text);
  }
  const apiSend = (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void =>
    send(res, status, body, 'application/vnd.api+json; charset=utf-8', headers);
  const wbSend = (res: ServerResponse, status: number, body: unknown): void => send(res, status, body, 'application/json');

  /** The JSON:API `data` of a request body, checked as OSF's parser checks it. */
  async function requestData(req: IncomingMessage, type: string, id?: string): Promise<Record<string, unknown>> {
    const body = await readJson(req);
    const data = body.data;
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw apiError(400, 'Request must include /data.', { source: { pointer: '/data' } });
    const d = data as Record<string, unknown>;
    if (d.type !== type) throw apiError(409, `This resource has a type of "${type}", but you set the json body's type field to "${String(d.type)}". You probably need to change the type field to match the resource's type.`);
    if (id !== undefined && d.id !== id) {
      throw apiError(409, `The id you used in the URL, "${id}", does not match the id you used in the json body's id field, "${String(d.id)}". The values must match.`);
    }
    return d;
  }

  function nodeAttributes(attrs: Record<string, unknown>, creating: boolean): Partial<NodeRecord> {
    const errors: Array<{ source: { pointer: string }; detail: string }> = [];
    const out: Partial<NodeRecord> = {};
    const str = (k: 'title' | 'category' | 'description'): void => {
      const v = attrs[k];
      if (v === undefined || (k === 'description' && v === null)) {
        if (creating && k !== 'description') errors.push({ source: { pointer: `/data/attributes/${k}` }, detail: 'This field is required.' });
        return;
      }
      if (typeof v !== 'string') errors.push({ source: { pointer: `/data/attributes/${k}` }, detail: 'Not a valid string.' });
      else if (k === 'title' && !v.trim()) errors.push({ source: { pointer: '/data/attributes/title' }, detail: 'This field may not be blank.' });
      else if (k === 'category' && !CATEGORIES.has(v)) errors.push({ source: { pointer: '/data/attributes/category' }, detail: `"${v}" is not a valid choice.` });
      else out[k] = v;
    };
    str('title');
    str('category');
    str('description');
    if (attrs.public !== undefined) {
      if (typeof attrs.public !== 'boolean') errors.push({ source: { pointer: '/data/attributes/public' }, detail: 'Must be a valid boolean.' });
      else out.public = attrs.public;
    }
    if (attrs.tags !== undefined) {
      if (!Array.isArray(attrs.tags) || attrs.tags.some((t) => typeof t !== 'string')) errors.push({ source: { pointer: '/data/attributes/tags' }, detail: 'Expected a list of items.' });
      else out.tags = attrs.tags as string[];
    }
    if (errors.length) throw new HttpError(400, { errors, meta: { version: '2.0' } });
    return out;
  }

  async function createNode(req: IncomingMessage, parent: string | undefined): Promise<NodeRecord> {
    const d = await requestData(req, 'nodes');
    const attrs = nodeAttributes((d.attributes as Record<string, unknown> | undefined) ?? {}, true);
    let id = guid();
    while (state.nodes[id]) id = guid();
    const now = osfDate();
    const n: NodeRecord = {
      id,
      title: attrs.title ?? '',
      category: attrs.category ?? '',
      description: attrs.description ?? '',
      public: attrs.public ?? false,
      tags: attrs.tags ?? [],
      parent,
      created: now,
      modified: now,
      deleted: false,
    };
    state.nodes[id] = n;
    await save();
    return n;
  }

  function usedBytes(node: string): number {
    return Object.values(state.entities).reduce((s, e) => (e.node === node && e.kind === 'file' ? s + e.size : s), 0);
  }

  // ---------- the API ----------

  const apiHandler: Handler = async (req, res, url) => {
    const who = authenticate(req);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (!path.startsWith('/v2/')) throw apiError(404, 'Not found.');
    // Canonical URLs end in "/": redirect as OSF does.
    if (!path.endsWith('/')) {
      res.writeHead(301, { location: `${url.origin}${path}/${url.search}` });
      res.end();
      return;
    }
    const parts = path.slice('/v2/'.length, -1).split('/').filter(Boolean);
    const [a, b, c, d, e] = parts;
    if (parts.length === 0 && method === 'GET') {
      apiSend(res, 200, { meta: { message: 'Welcome to the OSF API.', version: '2.0', current_user: null }, links: { nodes: `${apiBase}nodes/`, users: `${apiBase}users/` } });
      return;
    }
    if (a === 'users' && b === 'me' && parts.length === 2 && method === 'GET') {
      if (!who) throw apiError(401, 'Authentication credentials were not provided.', {}, UNAUTHORIZED_HEADERS);
      apiSend(res, 200, {
        data: {
          id: state.userId,
          type: 'users',
          attributes: {
            full_name: 'annexd dev user',
            given_name: 'annexd',
            middle_names: '',
            family_name: 'dev user',
            suffix: '',
            active: true,
            date_registered: osfDate(new Date(started)),
            timezone: 'Etc/UTC',
            locale: 'en_US',
          },
          relationships: { nodes: { links: { related: { href: `${apiBase}users/${state.userId}/nodes/`, meta: {} } } } },
          links: { html: `${apiBase.replace(/v2\/$/, '')}${state.userId}/`, profile_image: '', self: `${apiBase}users/${state.userId}/` },
        },
        meta: { version: '2.0' },
      });
      return;
    }
    if (a === 'guids' && b && parts.length === 2 && method === 'GET') {
      if (!state.nodes[b]) throw apiError(404, 'Not found.');
      res.writeHead(302, { location: `${nodeUrl(b)}${url.search}` });
      res.end();
      return;
    }
    if (a === 'files' && b && parts.length === 2 && method === 'GET') {
      const ent = state.entities[b];
      if (!ent) throw apiError(404, 'Not found.');
      liveNode(ent.node, who, false);
      apiSend(res, 200, { data: apiEntityJson(ent), meta: { version: '2.0' } });
      return;
    }
    if (a !== 'nodes') throw apiError(404, 'Not found.');
    if (!b) {
      if (method === 'POST') {
        if (!who) throw apiError(401, 'Authentication credentials were not provided.', {}, UNAUTHORIZED_HEADERS);
        apiSend(res, 201, { data: nodeJson(await createNode(req, undefined)), meta: { version: '2.0' } });
        return;
      }
      if (method === 'GET') {
        const visible = Object.values(state.nodes).filter((n) => !n.deleted && (who || n.public));
        apiSend(res, 200, page(url, visible.map(nodeJson)));
        return;
      }
      throw apiError(405, `Method "${method}" not allowed.`);
    }
    if (parts.length === 2) {
      if (method === 'GET') {
        apiSend(res, 200, { data: nodeJson(liveNode(b, who, false)), meta: { version: '2.0' } });
        return;
      }
      if (method === 'PATCH' || method === 'PUT') {
        const n = liveNode(b, who, true);
        const data = await requestData(req, 'nodes', b);
        Object.assign(n, nodeAttributes((data.attributes as Record<string, unknown> | undefined) ?? {}, method === 'PUT'), { modified: osfDate() });
        await save();
        apiSend(res, 200, { data: nodeJson(n), meta: { version: '2.0' } });
        return;
      }
      if (method === 'DELETE') {
        const n = liveNode(b, who, true);
        n.deleted = true;
        for (const ent of Object.values(state.entities)) {
          if (ent.node !== b) continue;
          delete state.entities[ent.id];
          if (ent.kind === 'file') await rm(blobPath(ent), { force: true });
        }
        await save();
        res.writeHead(204);
        res.end();
        return;
      }
      throw apiError(405, `Method "${method}" not allowed.`);
    }
    if (c === 'children' && parts.length === 3) {
      const n = liveNode(b, who, method !== 'GET');
      if (method === 'POST') {
        apiSend(res, 201, { data: nodeJson(await createNode(req, n.id)), meta: { version: '2.0' } });
        return;
      }
      if (method === 'GET') {
        const kids = Object.values(state.nodes).filter((k) => k.parent === n.id && !k.deleted && (who || k.public));
        apiSend(res, 200, page(url, kids.map(nodeJson)));
        return;
      }
      throw apiError(405, `Method "${method}" not allowed.`);
    }
    if (c === 'files' && method === 'GET') {
      const n = liveNode(b, who, false);
      if (parts.length === 3) {
        const wb = wbResource(n.id);
        apiSend(res, 200, page(url, [
          {
            id: `${n.id}:osfstorage`,
            type: 'files',
            attributes: { kind: 'folder', name: 'osfstorage', path: '/', node: n.id, provider: 'osfstorage' },
            relationships: { files: { links: { related: { href: `${nodeUrl(n.id)}files/osfstorage/`, meta: {} } } } },
            links: {
              upload: wb,
              new_folder: `${wb}?kind=folder`,
              storage_addons: `${apiBase}addons/?filter%5Bcategories%5D=storage`,
              self: `${nodeUrl(n.id)}files/providers/osfstorage/`,
            },
          },
        ]));
        return;
      }
      if (d !== 'osfstorage') throw apiError(404, 'Not found.');
      let folder = '';
      if (e !== undefined) {
        const f = state.entities[e];
        if (!f || f.node !== n.id || parts.length > 5) throw apiError(404, 'Not found.');
        if (f.kind !== 'folder' || url.searchParams.has('info')) {
          apiSend(res, 200, { data: apiEntityJson(f), meta: { version: '2.0' } });
          return;
        }
        folder = f.id;
      }
      apiSend(res, 200, page(url, filtered(url, children(n.id, folder)).map(apiEntityJson)));
      return;
    }
    throw apiError(404, 'Not found.');
  };

  // ---------- WaterButler ----------

  /** WB passes auth on to OSF: a missing or bad token on a private node is 403 there. */
  function wbNode(req: IncomingMessage, id: string, write: boolean): NodeRecord {
    let who: 'user' | undefined;
    try {
      who = authenticate(req);
    } catch {
      throw new HttpError(403, { code: 403, message_short: 'Forbidden', message_long: 'Failed to authenticate via provided Bearer Token', referrer: null });
    }
    const n = state.nodes[id];
    if (!n || n.deleted) throw wbError(404, `Could not retrieve file or directory /`);
    if (!who && (write || !n.public)) {
      throw new HttpError(403, { code: 403, message_short: 'Forbidden', message_long: 'You do not have permission to perform this action.', referrer: null });
    }
    return n;
  }

  const conflict = (existing: EntityRecord): HttpError =>
    new HttpError(409, {
      message: `Cannot complete action: file or folder "${existing.name}" already exists in this location`,
      data: existing.kind === 'file' ? wbEntityJson(existing) : {},
    });

  function findChild(node: string, parent: string, name: string, kind: 'file' | 'folder'): EntityRecord | undefined {
    return Object.values(state.entities).find((x) => x.node === node && x.parent === parent && x.name === name && x.kind === kind);
  }

  /**
   * Receives an upload body into a temporary blob: its hashes and length.
   * `complete` is false when it did not arrive whole; that is then deleted,
   * unless the server keeps cut uploads (`keepCutUploads`).
   */
  async function receive(req: IncomingMessage, length: number): Promise<{ tmp: string; md5: string; sha256: string; size: number } | undefined> {
    const tmp = join(blobs, `tmp-${randomBytes(8).toString('hex')}`);
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    let got = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _e, cb) {
        got += chunk.length;
        md5.update(chunk);
        sha.update(chunk);
        cb(null, chunk);
      },
    });
    let complete = true;
    await pipeline(req, hasher, createWriteStream(tmp)).catch(() => (complete = false));
    if (!complete || got !== length || !req.complete) {
      if (!options.keepCutUploads) {
        await rm(tmp, { force: true });
        return undefined;
      }
    }
    return { tmp, md5: md5.digest('hex'), sha256: sha.digest('hex'), size: got };
  }

  function uploadLength(req: IncomingMessage, node: string, replacing: number): number {
    const cl = req.headers['content-length'];
    if (cl === undefined || !/^\d+$/.test(cl)) throw wbError(411, 'Content-Length is required for file uploads');
    const length = Number(cl);
    if (length > maxFileSize) throw wbError(413, `File too large: ${length} bytes; the limit is ${maxFileSize} bytes per file`);
    if (options.quota !== undefined && usedBytes(node) - replacing + length > options.quota) {
      throw wbError(507, 'The quota on this osfstorage project has been exceeded');
    }
    return length;
  }

  function removeEntity(ent: EntityRecord): Promise<void>[] {
    const jobs: Promise<void>[] = [];
    for (const kid of Object.values(state.entities).filter((x) => x.parent === ent.id)) jobs.push(...removeEntity(kid));
    delete state.entities[ent.id];
    if (ent.kind === 'file') jobs.push(rm(blobPath(ent), { force: true }));
    return jobs;
  }

  const wbHandler: Handler = async (req, res, url) => {
    const m = /^\/v1\/resources\/([a-z0-9]+)\/providers\/([^/]+)\/(.*)$/.exec(url.pathname);
    if (!m) throw wbError(404, 'Not found');
    const [, nodeId, provider, rest] = m as unknown as [string, string, string, string];
    const method = req.method ?? 'GET';
    const write = !['GET', 'HEAD'].includes(method);
    const n = wbNode(req, nodeId, write);
    if (provider !== 'osfstorage') throw wbError(404, `Provider "${provider}" is not configured for this node`);
    // "" is the root; "<id>/" a folder; "<id>" a file.
    let target: EntityRecord | undefined;
    const isFolderUrl = rest === '' || rest.endsWith('/');
    if (rest !== '') {
      const id = rest.replace(/\/$/, '');
      target = state.entities[id];
      if (!target || target.node !== n.id || (target.kind === 'folder') !== isFolderUrl) {
        throw wbError(404, `Could not retrieve file or directory /${rest}`);
      }
    }
    const folderId = target?.id ?? '';
    const kind = url.searchParams.get('kind') ?? 'file';
    if (!['file', 'folder'].includes(kind)) throw wbError(400, `Kind must be file, folder or unspecified (interpreted as file), not ${kind}`);

    if (method === 'PUT' && isFolderUrl) {
      const name = url.searchParams.get('name');
      if (!name) throw wbError(400, "Missing required parameter 'name'");
      if (name.includes('/')) throw wbError(400, 'Names may not contain "/"');
      const existing = findChild(n.id, folderId, name, kind as 'file' | 'folder');
      if (existing) throw conflict(existing);
      const now = osfDate();
      if (kind === 'folder') {
        if (Number(req.headers['content-length'] ?? 0) > 0) throw wbError(413, 'Folder creation requests may not have a body');
        const f: EntityRecord = { id: randomBytes(12).toString('hex'), node: n.id, kind: 'folder', name, parent: folderId, size: 0, md5: '', sha256: '', version: 0, created: now, modified: now };
        state.entities[f.id] = f;
        await save();
        wbSend(res, 201, { data: wbEntityJson(f) });
        return;
      }
      const length = uploadLength(req, n.id, 0);
      const got = await receive(req, length);
      if (!got) return void res.destroy();
      // Another upload of the same name may have finished meanwhile.
      const raced = findChild(n.id, folderId, name, 'file');
      if (raced) {
        await rm(got.tmp, { force: true });
        throw conflict(raced);
      }
      const f: EntityRecord = { id: randomBytes(12).toString('hex'), node: n.id, kind: 'file', name, parent: folderId, size: got.size, md5: got.md5, sha256: got.sha256, version: 1, created: now, modified: now };
      await rename(got.tmp, blobPath(f));
      state.entities[f.id] = f;
      await save();
      wbSend(res, 201, { data: wbEntityJson(f) });
      return;
    }
    if (method === 'PUT' && target) {
      if (url.searchParams.has('name')) throw wbError(400, "'name' parameter doesn't apply to actions on files");
      if (kind === 'folder') throw wbError(409, 'Cannot create a folder at the path of a file');
      const length = uploadLength(req, n.id, target.size);
      const got = await receive(req, length);
      if (!got) return void res.destroy();
      const current = state.entities[target.id];
      if (!current) {
        await rm(got.tmp, { force: true });
        throw wbError(404, `Could not retrieve file or directory /${rest}`);
      }
      if (got.sha256 === current.sha256 && got.size === current.size) {
        await rm(got.tmp, { force: true });
      } else {
        const old = blobPath(current);
        current.version += 1;
        current.size = got.size;
        current.md5 = got.md5;
        current.sha256 = got.sha256;
        current.modified = osfDate();
        await rename(got.tmp, blobPath(current));
        await rm(old, { force: true });
        await save();
      }
      wbSend(res, 200, { data: wbEntityJson(current) });
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && isFolderUrl) {
      if (method === 'HEAD') throw wbError(501, 'HEAD is not supported on folders');
      wbSend(res, 200, { data: children(n.id, folderId).map(wbEntityJson) });
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && target) {
      if (url.searchParams.has('meta')) {
        wbSend(res, 200, { data: wbEntityJson(target) });
        return;
      }
      if (options.redirectDownloads && method === 'GET' && !url.searchParams.has('direct')) {
        res.writeHead(302, { location: signedUrl(target) });
        res.end();
        return;
      }
      await streamBlob(req, res, target, method === 'HEAD');
      return;
    }
    if (method === 'DELETE') {
      if (!target) {
        if (url.searchParams.get('confirm_delete') !== '1') throw wbError(400, 'confirm_delete=1 is required for deleting root provider folder');
        await Promise.all(children(n.id, '').flatMap(removeEntity));
      } else {
        await Promise.all(removeEntity(target));
      }
      await save();
      res.writeHead(204);
      res.end();
      return;
    }
    if (method === 'POST') {
      if (req.headers['content-length'] === undefined) throw wbError(411, 'Content-Length is required');
      if (!target) throw wbError(400, 'The root folder cannot be moved or renamed');
      let body: Record<string, unknown>;
      try {
        body = await readJson(req, 1024 * 1024);
      } catch {
        throw wbError(400, 'Malformed JSON body');
      }
      const action = body.action;
      if (action !== 'move' && action !== 'copy' && action !== 'rename') throw wbError(400, 'Action must be one of move, copy, rename');
      let destParent = target.parent;
      if (action !== 'rename') {
        const p = body.path;
        if (typeof p !== 'string' || !p.endsWith('/')) throw wbError(400, 'path is required and must be a folder path ending in "/"');
        if (typeof body.resource === 'string' && body.resource !== n.id) throw wbError(400, 'Moves between nodes are not supported by this server');
        if (p !== '/') {
          const dest = state.entities[p.slice(1, -1)];
          if (!dest || dest.kind !== 'folder' || dest.node !== n.id) throw wbError(404, `Could not retrieve file or directory ${p}`);
          for (let cur: EntityRecord | undefined = dest; cur; cur = cur.parent ? state.entities[cur.parent] : undefined) {
            if (cur.id === target.id) throw wbError(400, 'Cannot move a folder into itself');
          }
          destParent = dest.id;
        } else {
          destParent = '';
        }
      }
      const rename_ = body.rename;
      if (action === 'rename' && (typeof rename_ !== 'string' || !rename_)) throw wbError(400, "Missing required parameter 'rename'");
      let name = typeof rename_ === 'string' && rename_ ? rename_ : target.name;
      if (name.includes('/')) throw wbError(400, 'Names may not contain "/"');
      if (destParent === target.parent && name === target.name && action !== 'copy') throw wbError(400, 'Cannot move or rename an entity onto itself');
      const mode = typeof body.conflict === 'string' ? body.conflict : 'warn';
      let existing = findChild(n.id, destParent, name, target.kind);
      let status = 201;
      if (existing) {
        if (mode === 'warn') throw conflict(existing);
        if (mode === 'keep') {
          const dot = name.lastIndexOf('.');
          const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
          for (let i = 1; findChild(n.id, destParent, name, target.kind); i++) name = `${stem} (${i})${ext}`;
          existing = undefined;
        } else if (mode === 'replace') {
          await Promise.all(removeEntity(existing));
          status = 200;
        } else {
          throw wbError(400, 'conflict must be one of warn, replace, keep');
        }
      }
      let result = target;
      if (action === 'copy') {
        const copyTree = async (src: EntityRecord, parent: string, newName: string): Promise<EntityRecord> => {
          const now = osfDate();
          const c: EntityRecord = { ...src, id: randomBytes(12).toString('hex'), parent, name: newName, version: src.kind === 'file' ? 1 : 0, created: now, modified: now };
          if (src.kind === 'file') await copyFile(blobPath(src), blobPath(c));
          state.entities[c.id] = c;
          for (const kid of children(n.id, src.id)) await copyTree(kid, c.id, kid.name);
          return c;
        };
        result = await copyTree(target, destParent, name);
      } else {
        target.parent = destParent;
        target.name = name;
      }
      await save();
      wbSend(res, status, { data: wbEntityJson(result) });
      return;
    }
    throw wbError(405, `Method ${method} not allowed`);
  };

  /** A file's bytes (or, for HEAD, its headers), with single ranges as WaterButler serves them. */
  async function streamBlob(req: IncomingMessage, res: ServerResponse, target: EntityRecord, head: boolean): Promise<void> {
    const size = target.size;
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(target.name)}`,
      'last-modified': new Date(target.modified + 'Z').toUTCString(),
      'accept-ranges': 'bytes',
    };
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range && size > 0) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = String(size === 0 ? 0 : end - start + 1);
    if (head) headers['x-waterbutler-metadata'] = JSON.stringify(wbEntityJson(target));
    res.writeHead(status, headers);
    if (head || size === 0) return void res.end();
    await pipeline(createReadStream(blobPath(target), { start, end }), res).catch(() => res.destroy());
  }

  // ---------- the storage host (signed download URLs) ----------

  const signingKey = randomBytes(32);
  const signature = (id: string, version: number, expires: number): string =>
    createHmac('sha256', signingKey).update(`${id}/${version}/${expires}`).digest('hex');

  /** A URL valid for 10 minutes for the file's current version, as a cloud store signs them. */
  function signedUrl(e: EntityRecord): string {
    const expires = Date.now() + 10 * 60_000;
    return `${storageBase}blob/${e.id}/${e.version}?expires=${expires}&signature=${signature(e.id, e.version, expires)}`;
  }

  const storageHandler: Handler = async (req, res, url) => {
    const xml = (status: number, code: string, message: string): HttpError =>
      new HttpError(status, { error: code, message });
    // A cloud store does not know OSF's credentials, and refuses a request carrying them.
    if (req.headers.authorization) throw xml(400, 'InvalidArgument', 'Authorization is not accepted with a signed URL');
    const m = /^\/blob\/([0-9a-f]{24})\/(\d+)$/.exec(url.pathname);
    const expires = Number(url.searchParams.get('expires'));
    if (!m || !(expires > Date.now()) || url.searchParams.get('signature') !== signature(m[1]!, Number(m[2]), expires)) {
      throw xml(403, 'SignatureDoesNotMatch', 'The signed URL is not valid');
    }
    const e = state.entities[m[1]!];
    if (!e || e.version !== Number(m[2]) || !['GET', 'HEAD'].includes(req.method ?? '')) throw xml(404, 'NoSuchKey', 'No such object');
    await streamBlob(req, res, e, req.method === 'HEAD');
  };

  // ---------- servers ----------

  function serve(host: 'api' | 'wb' | 'storage', handler: Handler): Server {
    return createServer((req, res) => {
      const at = Date.now() - started;
      const url = new URL(req.url ?? '/', host === 'api' ? apiBase : host === 'wb' ? wbBase : storageBase);
      const record: RequestRecord = { at, method: req.method ?? '', host, path: url.pathname + url.search, status: 0 };
      log.push(record);
      res.on('finish', () => {
        record.status = res.statusCode;
        if (options.requestLog) void writeFile(options.requestLog, `${record.at} ${record.method} ${host} ${record.path} ${record.status}\n`, { flag: 'a' }).catch(() => undefined);
      });
      res.on('close', () => {
        if (!res.writableFinished && record.status === 0) record.status = -1;
      });
      if (host === 'wb') res.setHeader('x-waterbutler-request-id', randomBytes(16).toString('hex'));
      const work = async (): Promise<void> => {
        if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
        // The client: its token (whatever it is), else its address.
        const client = req.headers.authorization ?? req.socket.remoteAddress ?? '';
        const strike = options.throttleEvery ? log.length % options.throttleEvery === 0 : false;
        const wait = host === 'storage' ? undefined : strike ? 1 : limiter.check(client, Date.now());
        if (wait !== undefined) {
          if (host === 'api') throw apiError(429, `Request was throttled. Expected available in ${wait} seconds.`, {}, { 'retry-after': String(wait) });
          throw new HttpError(429, { error: 'API rate-limiting active due to too many requests' }, { 'retry-after': String(wait) });
        }
        await handler(req, res, url);
      };
      work().catch((err: unknown) => {
        if (res.headersSent) return void res.destroy();
        const e = err instanceof HttpError ? err : host === 'api' ? apiError(500, String(err)) : wbError(500, String(err));
        // An answer before the body was read (409, 411, 413, 429): close, as Tornado does, so the client stops sending.
        const unread = !req.complete && ['PUT', 'POST'].includes(req.method ?? '');
        const headers = unread ? { ...e.headers, connection: 'close' } : e.headers;
        if (host === 'api') apiSend(res, e.status, e.body, headers);
        else send(res, e.status, e.body, 'application/json', headers);
        if (unread) req.resume();
      });
    });
  }

  const listen = (srv: Server, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve((srv.address() as AddressInfo).port));
    });
  const apiServer = serve('api', apiHandler);
  const wbServer = serve('wb', wbHandler);
  const storageServer = serve('storage', storageHandler);
  const port = await listen(apiServer, options.port ?? 0);
  const wbPort = await listen(wbServer, options.wbPort ?? 0);
  const storagePort = await listen(storageServer, 0);
  apiBase = `http://127.0.0.1:${port}/v2/`;
  wbBase = `http://127.0.0.1:${wbPort}/v1/`;
  storageBase = `http://127.0.0.1:${storagePort}/`;
  await save();

  return {
    api: apiBase,
    wb: wbBase,
    port,
    wbPort,
    token,
    userId: state.userId,
    requests: () => log.map((r) => ({ ...r })),
    stats() {
      const byStatus: Record<string, number> = {};
      let maxPerSecond = 0;
      let lo = 0;
      log.forEach((r, i) => {
        byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
        while (log[lo]!.at <= r.at - 1000) lo++;
        maxPerSecond = Math.max(maxPerSecond, i - lo + 1);
      });
      return { byStatus, requests: log.length, throttled: byStatus['429'] ?? 0, maxPerSecond };
    },
    async close() {
      const servers = [apiServer, wbServer, storageServer];
      const closing = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const s of servers) s.closeAllConnections();
      await Promise.all(closing);
      await saving;
    },
  };
}

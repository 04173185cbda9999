/**
 * A node's osfstorage, as annex mode uses it (datalad-osf's layout): one flat
 * file per key at the root, named by the key.
 *
 * Everything is found through links: the node's `files` relationship, the
 * osfstorage provider's upload link and listing, each file's own links. The
 * root is listed once per process (page[size]=100, following links.next),
 * shared by all jobs, and kept true by this process's own writes: an entry
 * is added only when an upload's answer is in (so an unfinished upload is
 * never "present"), and removed with its DELETE. An "absent" from a listing
 * older than FRESH_MS is checked by one lookup (filter[name][eq]) before it
 * is believed: another process may have stored the key since.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { TransferContext } from '../core/backend.js';
import { parseContentRange } from '../core/content-range.js';
import { contentLength } from '../core/http-headers.js';
import { fileSize, partialSize, writeFrom } from '../core/local-file.js';
import { IncompleteTransferError } from '../core/net-errors.js';
import { retryRequest } from '../core/retry.js';
import { readText, type JsonValue, type OsfClient } from './client.js';
import type { OsfSettings } from './config.js';
import { classifyOsfError, describeOsfError, NodeMissingError, NotOsfError, OsfHttpError, TooLargeError, VerifyError } from './errors.js';

/** OSF's per-file cap ("Individual files must be 5GB or less"). */
export const OSF_FILE_CAP = 5 * 1000 ** 3;
/** How long a listing's "absent" is believed without a lookup. */
export const FRESH_MS = 30_000;

/** What the remote knows of one file. */
export interface OsfFile {
  name: string;
  size: number | undefined;
  md5: string | undefined;
  /** WaterButler URLs from the file's links. */
  upload: string;
  download: string;
  delete: string;
}

interface StorageRoot {
  /** Upload link of the root folder (WaterButler). */
  upload: string;
  /** The API listing of the root. */
  list: string;
}

// ---------- reading JSON answers ----------

type JsonObject = { [k: string]: JsonValue };
const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at a path of keys, or undefined. */
function at(v: JsonValue | undefined, ...path: string[]): JsonValue | undefined {
  let cur = v;
  for (const k of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function text(v: JsonValue | undefined, ...path: string[]): string | undefined {
  const x = at(v, ...path);
  return typeof x === 'string' ? x : undefined;
}

/** A link the protocol cannot do without: its absence means this is not OSF. */
function link(v: JsonValue | undefined, what: string, ...path: string[]): string {
  const x = text(v, ...path);
  if (!x) throw new NotOsfError(`its answer has no ${what} (${path.join('.')})`);
  return x;
}

/** A file entry of an API listing (attributes.materialized_path) or a WaterButler entity (attributes.materialized). */
function fileOf(entity: JsonValue | undefined): OsfFile | undefined {
  if (text(entity, 'attributes', 'kind') !== 'file') return undefined;
  const name = text(entity, 'attributes', 'name');
  const upload = text(entity, 'links', 'upload');
  const del = text(entity, 'links', 'delete');
  if (!name || !upload || !del) return undefined;
  const size = at(entity, 'attributes', 'size');
  // WaterButler's own entities carry a download link; the API's upload link serves downloads too (osfclient reads it).
  const download = text(entity, 'attributes', 'materialized') !== undefined ? text(entity, 'links', 'download') ?? upload : upload;
  return {
    name,
    size: typeof size === 'number' ? size : undefined,
    md5: text(entity, 'attributes', 'extra', 'hashes', 'md5'),
    upload,
    download,
    delete: del,
  };
}

/** Whether a file sits at the root: its materialized path is "/name". */
function atRoot(entity: JsonValue | undefined, name: string): boolean {
  const p = text(entity, 'attributes', 'materialized_path') ?? text(entity, 'attributes', 'materialized');
  return p === `/${name}`;
}

/** The file's bytes as undici reads them, hashed (md5, to compare with what OSF computed) and counted. */
async function* fileChunks(file: LocalPath, md5: ReturnType<typeof createHash>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
    md5.update(chunk as Buffer);
    onBytes((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}

export class OsfStorage {
  private root: Promise<StorageRoot> | undefined;
  private index: Promise<Map<string, OsfFile>> | undefined;
  private listedAt = 0;

  constructor(
    readonly client: OsfClient,
    readonly settings: OsfSettings,
  ) {}

  private retry<T>(what: string, ctx: RequestContext, op: (attempt: number) => Promise<T>): Promise<T> {
    const s = this.settings;
    return retryRequest(op, {
      what,
      ctx,
      retries: s.retries,
      classify: classifyOsfError,
      describe: (e) => describeOsfError(e, what, s),
      endpoint: s.api,
    });
  }

  /** The node, checked: GET nodes/ID/. */
  async node(ctx: RequestContext): Promise<JsonObject> {
    const url = `${this.settings.api}nodes/${encodeURIComponent(this.settings.node)}/`;
    return this.retry('open node', ctx, async () => {
      const res = await this.client.request('GET', url, ctx);
      if (res.statusCode === 404 || res.statusCode === 410) {
        // An OSF says so in JSON:API; anything else at that URL is not OSF.
        const failure = await this.client.failure(res, 'GET', url);
        if (failure.detail === undefined) throw new NotOsfError(`GET ${url} answered HTTP ${res.statusCode} without an OSF error body`);
        throw new NodeMissingError(res.statusCode);
      }
      if (res.statusCode !== 200) throw await this.client.failure(res, 'GET', url);
      const raw = await readText(res, 4 * 1024 * 1024);
      let body: JsonValue;
      try {
        body = JSON.parse(raw) as JsonValue;
      } catch {
        throw new NotOsfError(`GET ${url} answered HTTP 200 with something other than JSON`);
      }
      const data = at(body, 'data');
      const type = text(data, 'type');
      if (!isObject(data) || (type !== 'nodes' && type !== 'registrations')) throw new NotOsfError(`GET ${url} answered without a node (data.type "${type ?? 'missing'}")`);
      return data;
    });
  }

  /** The user the token belongs to: GET users/me/ (full name). */
  async whoami(ctx: RequestContext): Promise<string> {
    const url = `${this.settings.api}users/me/`;
    const { body } = await this.retry('check token', ctx, async () => {
      try {
        return await this.client.json('GET', url, ctx, [200]);
      } catch (err) {
        // Every OSF has users/me/: a 404 there (or 405) is a server of another kind.
        if (err instanceof OsfHttpError && (err.status === 404 || err.status === 405)) throw new NotOsfError(`GET ${url} answered HTTP ${err.status}`);
        throw err;
      }
    });
    if (text(body, 'data', 'type') !== 'users') throw new NotOsfError(`GET ${url} answered without a user (data.type)`);
    return text(body, 'data', 'attributes', 'full_name') ?? text(body, 'data', 'id') ?? '(unknown)';
  }

  /** Node → its files relationship → the osfstorage provider: the root's upload link and listing. */
  private storageRoot(ctx: RequestContext): Promise<StorageRoot> {
    this.root ??= (async () => {
      const node = await this.node(ctx);
      const files = link(node, 'files relationship', 'relationships', 'files', 'links', 'related', 'href');
      const { body } = await this.retry('open storage', ctx, () => this.client.json('GET', files, ctx, [200]));
      const providers = at(body, 'data');
      const osfstorage = Array.isArray(providers) ? providers.find((p) => text(p, 'attributes', 'provider') === 'osfstorage') : undefined;
      if (!osfstorage) throw new RemoteError(`OSF node ${this.settings.node} has no osfstorage provider: annexd-osf stores in OSF Storage`);
      return {
        upload: this.client.trust(link(osfstorage, 'upload link', 'links', 'upload')),
        list: link(osfstorage, 'listing link', 'relationships', 'files', 'links', 'related', 'href'),
      };
    })();
    this.root.catch(() => (this.root = undefined));
    return this.root;
  }

  /** Every page of a listing URL (page[size]=100), following links.next. */
  private async listAll(url: string, ctx: RequestContext): Promise<JsonValue[]> {
    const items: JsonValue[] = [];
    const first = new URL(url);
    first.searchParams.set('page[size]', '100');
    for (let next: string | undefined = first.toString(); next; ) {
      const page: string = next;
      const { body } = await this.retry('list files', ctx, () => this.client.json('GET', page, ctx, [200]));
      const data = at(body, 'data');
      if (!Array.isArray(data)) throw new NotOsfError(`its listing ${page} has no data array`);
      items.push(...data);
      next = text(body, 'links', 'next');
    }
    return items;
  }

  /** The root's files by name: listed once per process, shared by every job. */
  private files(ctx: RequestContext): Promise<Map<string, OsfFile>> {
    this.index ??= (async () => {
      const root = await this.storageRoot(ctx);
      const map = new Map<string, OsfFile>();
      for (const entity of await this.listAll(root.list, ctx)) {
        const f = fileOf(entity);
        if (f) map.set(f.name, this.trusted(f));
      }
      this.listedAt = Date.now();
      void ctx.annex.debug(`OSF node ${this.settings.node}: ${map.size} files at the root`);
      return map;
    })();
    this.index.catch(() => (this.index = undefined));
    return this.index;
  }

  private trusted(f: OsfFile): OsfFile {
    for (const l of [f.upload, f.download, f.delete]) this.client.trust(l);
    return f;
  }

  /** One lookup of a name at the root (filter[name][eq]); the index learns the answer. */
  private async lookup(name: string, ctx: RequestContext): Promise<OsfFile | undefined> {
    const root = await this.storageRoot(ctx);
    const url = new URL(root.list);
    url.searchParams.set('filter[name][eq]', name);
    const { body } = await this.retry('look up file', ctx, () => this.client.json('GET', url.toString(), ctx, [200]));
    const data = at(body, 'data');
    const entity = Array.isArray(data) ? data.find((e) => text(e, 'attributes', 'name') === name && atRoot(e, name)) : undefined;
    const f = fileOf(entity);
    const index = await this.files(ctx);
    if (f) index.set(name, this.trusted(f));
    else index.delete(name);
    return f;
  }

  /** The file of this name, from the listing, or from one lookup when the listing's "absent" may be stale. */
  async find(name: string, ctx: RequestContext): Promise<OsfFile | undefined> {
    const index = await this.files(ctx);
    const known = index.get(name);
    if (known || Date.now() - this.listedAt < FRESH_MS) return known;
    return this.lookup(name, ctx);
  }

  /**
   * Uploads a file under `name`: a new file through the root's upload link,
   * or a new version through the file's own link when it exists (known, or
   * named by the 409 of a new upload). Checked against the size and md5 OSF
   * reports; the index learns the file only then.
   */
  async put(name: string, file: LocalPath, t: TransferContext): Promise<void> {
    const size = await fileSize(file);
    if (size > OSF_FILE_CAP) throw new TooLargeError(size, OSF_FILE_CAP);
    const root = await this.storageRoot(t);
    const index = await this.files(t);
    const stored = await this.retry('store', t, async (attempt) => {
      // A cut connection may hide a 409 (WaterButler answers before reading the body) or an upload that did finish.
      let existing = index.get(name);
      if (attempt > 1 && !existing) existing = await this.lookup(name, t);
      for (let tries = 0; ; tries++) {
        const url = existing ? existing.upload : (() => {
          const u = new URL(root.upload);
          u.searchParams.set('kind', 'file');
          u.searchParams.set('name', name);
          return u.toString();
        })();
        // Made afresh for every send: a 429 makes the client send the body again.
        let md5 = createHash('md5');
        const res = await this.client.request('PUT', url, t, {
          headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' },
          body: () => {
            md5 = createHash('md5');
            t.progress.set(0);
            return size === 0 ? '' : Readable.from(fileChunks(file, md5, (n) => t.progress.add(n)));
          },
        });
        if (res.statusCode === 409 && !existing && tries === 0) {
          // The name is taken: the answer names the file; update it through its own link.
              const conflict = JSON.parse(await readText(res, 4 * 1024 * 1024).catch(() => '{}')) as JsonValue;
          existing = fileOf(at(conflict, 'data')) ?? (await this.lookup(name, t));
          if (!existing) throw new OsfHttpError('PUT', url, 409, res.headers, this.client.credential?.source, 'the name is taken, by something that is not a file', 'files');
          this.trusted(existing);
          continue;
        }
        if (res.statusCode !== 200 && res.statusCode !== 201) throw await this.client.failure(res, 'PUT', url);
          const answer = JSON.parse(await readText(res, 4 * 1024 * 1024)) as JsonValue;
        const f = fileOf(at(answer, 'data'));
        if (!f) throw new NotOsfError(`PUT ${url} answered HTTP ${res.statusCode} without a file entity`);
        const sent = size === 0 ? createHash('md5').digest('hex') : md5.digest('hex');
        if (f.size !== size || (f.md5 !== undefined && f.md5 !== sent)) {
          throw new VerifyError(`OSF reports ${f.size ?? '?'} bytes with md5 ${f.md5 ?? '?'} for ${name}, but ${size} bytes with md5 ${sent} were sent`);
        }
        return this.trusted(f);
      }
    });
    index.set(name, stored);
  }

  /** Downloads a file, resuming a partial one with Range; the length is checked against OSF's size. */
  async get(name: string, file: LocalPath, t: TransferContext): Promise<void> {
    const f = await this.find(name, t);
    if (!f) throw new RemoteError(`${name} is not in OSF node ${this.settings.node}`);
    await this.retry('retrieve', t, async () => {
      let offset = await partialSize(file);
      if (f.size !== undefined && offset > f.size) offset = 0;
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      const res = await this.client.request('GET', f.download, t, { headers });
      if (res.statusCode === 200) offset = 0;
      else if (res.statusCode === 206) {
        const range = parseContentRange(res.headers['content-range']);
        if (range?.start !== offset) offset = 0;
      } else if (res.statusCode === 416 && offset > 0 && offset === f.size) {
        await res.body.dump();
        t.progress.set(offset);
        return;
      } else {
        throw await this.client.failure(res, 'GET', f.download);
      }
      const expected = f.size ?? (contentLength(res.headers) === undefined ? undefined : offset + contentLength(res.headers)!);
      t.progress.set(offset);
      const written = await writeFrom(file, offset, res.body, (n) => t.progress.add(n), t.signal);
      if (expected !== undefined && offset + written !== expected) throw new IncompleteTransferError(expected, offset + written);
    });
  }

  /** Deletes a file; one that is not there counts as deleted. */
  async delete(name: string, ctx: RequestContext): Promise<void> {
    const f = await this.find(name, ctx);
    if (!f) return;
    await this.retry('remove', ctx, async () => {
      const res = await this.client.request('DELETE', f.delete, ctx);
      if (res.statusCode !== 204 && res.statusCode !== 200 && res.statusCode !== 404) throw await this.client.failure(res, 'DELETE', f.delete);
      await res.body.dump();
    });
    (await this.files(ctx)).delete(name);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

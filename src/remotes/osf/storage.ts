/**
 * A node's osfstorage, in datalad-osf's layouts: annex mode keeps one flat
 * file per key at the root, named by the key (and reads the legacy deposit
 * names .git/refs and .git/repo.zip as the keys XDLRA--refs and
 * XDLRA--repo-export, as datalad-osf does); export mode keeps the tree, with
 * folders made as needed. Files are known by their path from the root.
 *
 * Everything is found through links: the node's `files` relationship, the
 * osfstorage provider's upload link and listing, each file's own links. The
 * root is listed once per process (page[size]=100, following links.next),
 * (in export mode with its folders, recursively), shared by all jobs, and kept true by this process's own writes: an entry
 * is added only when an upload's answer is in (so an unfinished upload is
 * never "present"), and removed with its DELETE. An "absent" from a listing
 * older than FRESH_MS is checked by one lookup (filter[name][eq]) before it
 * is believed: another process may have stored the key since.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { TransferContext } from '../core/backend.js';
import { parseContentRange } from '../core/content-range.js';
import { contentLength } from '../core/http-headers.js';
import { fileSize, partialSize, WHOLE_BODY_MAX, writeFrom } from '../core/local-file.js';
import { IncompleteTransferError } from '../core/net-errors.js';
import { PromiseMemo } from '../core/promise-memo.js';
import { retrier, type Retrier } from '../core/retry.js';
import { readText, type JsonValue, type OsfClient } from './client.js';
import type { OsfSettings } from './config.js';
import { classifyOsfError, describeOsfError, NodeMissingError, NotOsfError, OsfHttpError, TooLargeError, VerifyError } from './errors.js';

/** OSF's per-file cap ("Individual files must be 5GB or less"). */
export const OSF_FILE_CAP = 5 * 1000 ** 3;
/** How long a listing's "absent" is believed without a lookup. */
export const FRESH_MS = 30_000;

/** What the remote knows of one file. */
export interface OsfFile {
  /** Path from the storage root, e.g. "KEY" or "raw/sub/a.txt". */
  path: string;
  size: number | undefined;
  md5: string | undefined;
  /** WaterButler URLs from the file's links. */
  upload: string;
  download: string;
  delete: string;
  move: string;
}

/** A folder (or the root): where new files and folders go, and how to list or delete it. */
interface OsfFolder {
  /** osfstorage path: "/" for the root, "/<id>/" for a folder (a move's destination). */
  osfPath: string;
  upload: string;
  newFolder: string;
  /** WaterButler URL to delete it (none for the root). */
  delete: string | undefined;
  /** The API listing of its children. */
  list: string;
}

/** datalad-osf's aliases of the legacy git deposit (git-remote-osf before 2023). */
const LEGACY_DEPOSIT: Record<string, string> = { 'XDLRA--refs': '.git/refs', 'XDLRA--repo-export': '.git/repo.zip' };

const dirOf = (path: string): string => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
const baseOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
const within = (dir: string, name: string): string => (dir ? `${dir}/${name}` : name);

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

/** A file entry of an API listing (attributes.materialized_path) or a WaterButler entity (attributes.materialized), in folder `dir`. */
function fileOf(entity: JsonValue | undefined, dir: string): OsfFile | undefined {
  if (text(entity, 'attributes', 'kind') !== 'file') return undefined;
  const name = text(entity, 'attributes', 'name');
  const upload = text(entity, 'links', 'upload');
  const del = text(entity, 'links', 'delete');
  if (!name || !upload || !del) return undefined;
  const size = at(entity, 'attributes', 'size');
  // WaterButler's own entities carry a download link; the API's upload link serves downloads too (osfclient reads it).
  const download = text(entity, 'attributes', 'materialized') !== undefined ? text(entity, 'links', 'download') ?? upload : upload;
  return {
    path: within(dir, name),
    size: typeof size === 'number' ? size : undefined,
    md5: text(entity, 'attributes', 'extra', 'hashes', 'md5'),
    upload,
    download,
    delete: del,
    move: text(entity, 'links', 'move') ?? del,
  };
}

/**
 * A folder entry: of an API listing (its own listing in relationships), or
 * of WaterButler (no relationships: its API listing is the parent's route
 * with its id, as the API names it, e.g. …/files/osfstorage/<id>/).
 */
function folderOf(entity: JsonValue | undefined, rootList: string): OsfFolder | undefined {
  if (text(entity, 'attributes', 'kind') !== 'folder') return undefined;
  const osfPath = text(entity, 'attributes', 'path');
  const upload = text(entity, 'links', 'upload');
  const newFolder = text(entity, 'links', 'new_folder');
  if (!osfPath || !upload || !newFolder) return undefined;
  const list = text(entity, 'relationships', 'files', 'links', 'related', 'href') ?? new URL(osfPath.replace(/^\//, ''), rootList).toString();
  return { osfPath, upload, newFolder, delete: text(entity, 'links', 'delete'), list };
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
  private root: Promise<OsfFolder> | undefined;
  private index: Promise<Map<string, OsfFile>> | undefined;
  /** Folders by path ('' is the root), known from the listing or made by this process. */
  private readonly folders = new PromiseMemo<string, OsfFolder>();
  private listedAt = 0;

  private readonly retry: Retrier;

  constructor(
    readonly client: OsfClient,
    readonly settings: OsfSettings,
    /** Export mode: the whole tree is listed, and paths may have folders. */
    readonly tree: boolean,
  ) {
    this.retry = retrier({ retries: settings.retries, classify: classifyOsfError, describe: (e, what) => describeOsfError(e, what, settings), endpoint: settings.api });
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

  /** Node → its files relationship → the osfstorage provider: the root folder. */
  private storageRoot(ctx: RequestContext): Promise<OsfFolder> {
    this.root ??= (async () => {
      const node = await this.node(ctx);
      const files = link(node, 'files relationship', 'relationships', 'files', 'links', 'related', 'href');
      const { body } = await this.retry('open storage', ctx, () => this.client.json('GET', files, ctx, [200]));
      const providers = at(body, 'data');
      const osfstorage = Array.isArray(providers) ? providers.find((p) => text(p, 'attributes', 'provider') === 'osfstorage') : undefined;
      if (!osfstorage) throw new RemoteError(`OSF node ${this.settings.node} has no osfstorage provider: annexd-osf stores in OSF Storage`);
      return {
        osfPath: '/',
        upload: this.client.trust(link(osfstorage, 'upload link', 'links', 'upload')),
        newFolder: this.client.trust(link(osfstorage, 'new_folder link', 'links', 'new_folder')),
        delete: undefined,
        list: link(osfstorage, 'listing link', 'relationships', 'files', 'links', 'related', 'href'),
      };
    })();
    this.root.catch(() => (this.root = undefined));
    return this.root;
  }

  /** Every page of a listing URL (page[size]=100), following links.next; `extra` adds query parameters. */
  private async listAll(url: string, ctx: RequestContext, extra: Record<string, string> = {}): Promise<JsonValue[]> {
    const items: JsonValue[] = [];
    const first = new URL(url);
    first.searchParams.set('page[size]', '100');
    for (const [k, v] of Object.entries(extra)) first.searchParams.set(k, v);
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

  private trusted(f: OsfFile): OsfFile {
    for (const l of [f.upload, f.download, f.delete, f.move]) this.client.trust(l);
    return f;
  }

  private trustedFolder(f: OsfFolder): OsfFolder {
    for (const l of [f.upload, f.newFolder, f.delete]) if (l) this.client.trust(l);
    return f;
  }

  /** Lists folder `dir` into `map` (and its subfolders, in export mode; in annex mode only the legacy .git/ deposit). */
  private async listInto(dir: string, folder: OsfFolder, map: Map<string, OsfFile>, ctx: RequestContext): Promise<void> {
    const root = await this.storageRoot(ctx);
    const sub: Array<Promise<void>> = [];
    for (const entity of await this.listAll(folder.list, ctx)) {
      const f = fileOf(entity, dir);
      if (f) map.set(f.path, this.trusted(f));
      const d = folderOf(entity, root.list);
      const name = text(entity, 'attributes', 'name');
      if (!d || !name) continue;
      const path = within(dir, name);
      this.folders.set(path, this.trustedFolder(d));
      if (this.tree || path === '.git') sub.push(this.listInto(path, d, map, ctx));
    }
    await Promise.all(sub);
  }

  /** Every file by path: listed once per process, shared by every job. */
  private files(ctx: RequestContext): Promise<Map<string, OsfFile>> {
    this.index ??= (async () => {
      const root = await this.storageRoot(ctx);
      this.folders.set('', root);
      const map = new Map<string, OsfFile>();
      await this.listInto('', root, map, ctx);
      this.listedAt = Date.now();
      void ctx.annex.debug(`OSF node ${this.settings.node}: ${map.size} files`);
      return map;
    })();
    this.index.catch(() => (this.index = undefined));
    return this.index;
  }

  /** One lookup of a path in its folder's listing (filter[name][eq]); the index learns the answer. */
  private async lookup(path: string, ctx: RequestContext): Promise<OsfFile | undefined> {
    const index = await this.files(ctx);
    const folder = await this.folders.peek(dirOf(path))?.catch(() => undefined);
    let f: OsfFile | undefined;
    if (folder) {
      const name = baseOf(path);
      const found = await this.listAll(folder.list, ctx, { 'filter[name][eq]': name });
      f = fileOf(found.find((e) => text(e, 'attributes', 'name') === name), dirOf(path));
    }
    if (f) index.set(path, this.trusted(f));
    else index.delete(path);
    return f;
  }

  /**
   * The file at this path, from the listing, or from one lookup when the
   * listing's "absent" may be stale. In annex mode, the legacy deposit names
   * stand for the XDLRA keys when those are not stored flat.
   */
  async find(path: string, ctx: RequestContext): Promise<OsfFile | undefined> {
    const index = await this.files(ctx);
    const legacy = this.tree ? undefined : LEGACY_DEPOSIT[path];
    const known = index.get(path) ?? (legacy === undefined ? undefined : index.get(legacy));
    if (known || Date.now() - this.listedAt < FRESH_MS) return known;
    return this.lookup(path, ctx);
  }

  /** The folder at `dir`, made (with its parents) when missing; remembered for the process. */
  private folder(dir: string, ctx: RequestContext): Promise<OsfFolder> {
    if (dir === '') return this.storageRoot(ctx);
    return this.folders.get(dir, () => this.makeFolder(dir, ctx));
  }

  private async makeFolder(dir: string, ctx: RequestContext): Promise<OsfFolder> {
    const parent = await this.folder(dirOf(dir), ctx);
    const root = await this.storageRoot(ctx);
    const name = baseOf(dir);
    const url = new URL(parent.newFolder);
    url.searchParams.set('kind', 'folder');
    url.searchParams.set('name', name);
    return this.retry('create folder', ctx, async () => {
      const res = await this.client.request('PUT', url.toString(), ctx, { headers: { 'content-length': '0' } });
      if (res.statusCode === 201) {
        const made = folderOf(at(JSON.parse(await readText(res, 1024 * 1024)) as JsonValue, 'data'), root.list);
        if (!made) throw new NotOsfError(`PUT ${url} answered HTTP 201 without a folder entity`);
        return this.trustedFolder(made);
      }
      if (res.statusCode !== 409) throw await this.client.failure(res, 'PUT', url.toString());
      await res.body.dump();
      // There already (made by another job or process): find it in the parent's listing.
      const found = (await this.listAll(parent.list, ctx, { 'filter[name][eq]': name })).map((e) => (text(e, 'attributes', 'name') === name ? folderOf(e, root.list) : undefined)).find(Boolean);
      if (!found) throw new RemoteError(`cannot create folder "${dir}" on OSF: the name is taken by a file`);
      return this.trustedFolder(found);
    });
  }

  /**
   * Uploads a file to `path`: a new file through its folder's upload link,
   * or a new version through the file's own link when it exists (known, or
   * named by the 409 of a new upload). Checked against the size and md5 OSF
   * reports; the index learns the file only then.
   */
  async put(path: string, file: LocalPath, t: TransferContext): Promise<void> {
    const size = await fileSize(file);
    if (size > OSF_FILE_CAP) throw new TooLargeError(size, OSF_FILE_CAP);
    const index = await this.files(t);
    const dir = dirOf(path);
    const folder = await this.folder(dir, t);
    // A small file goes as one buffer (see WHOLE_BODY_MAX), read once for every attempt.
    const whole = size <= WHOLE_BODY_MAX ? await readFile(file) : undefined;
    const stored = await this.retry('store', t, async (attempt) => {
      // A cut connection may hide a 409 (WaterButler answers before reading the body) or an upload that did finish.
      let existing = index.get(path);
      if (attempt > 1 && !existing) existing = await this.lookup(path, t);
      for (let tries = 0; ; tries++) {
        const url = existing ? existing.upload : (() => {
          const u = new URL(folder.upload);
          u.searchParams.set('kind', 'file');
          u.searchParams.set('name', baseOf(path));
          return u.toString();
        })();
        // Made afresh for every send: a 429 makes the client send the body again.
        let md5 = createHash('md5');
        const res = await this.client.request('PUT', url, t, {
          headers: { 'content-length': String(whole?.length ?? size), 'content-type': 'application/octet-stream' },
          body: () => {
            md5 = createHash('md5');
            if (whole) {
              md5.update(whole);
              t.progress.set(whole.length);
              return whole;
            }
            t.progress.set(0);
            return Readable.from(fileChunks(file, md5, (n) => t.progress.add(n)));
          },
        });
        if (res.statusCode === 409 && !existing && tries === 0) {
          // The name is taken: the answer names the file; update it through its own link.
          const conflict = JSON.parse(await readText(res, 4 * 1024 * 1024).catch(() => '{}')) as JsonValue;
          existing = fileOf(at(conflict, 'data'), dir) ?? (await this.lookup(path, t));
          if (!existing) throw new OsfHttpError('PUT', url, 409, res.headers, this.client.credential?.source, 'the name is taken, by something that is not a file', 'files');
          this.trusted(existing);
          continue;
        }
        if (res.statusCode === 404 && existing && tries === 0) {
          // Deleted behind this process's back since it was listed: upload it as a new file.
          await res.body.dump();
          index.delete(path);
          existing = undefined;
          continue;
        }
        if (res.statusCode !== 200 && res.statusCode !== 201) throw await this.client.failure(res, 'PUT', url);
        const answer = JSON.parse(await readText(res, 4 * 1024 * 1024)) as JsonValue;
        const f = fileOf(at(answer, 'data'), dir);
        if (!f) throw new NotOsfError(`PUT ${url} answered HTTP ${res.statusCode} without a file entity`);
        const sent = md5.digest('hex');
        if (f.size !== size || (f.md5 !== undefined && f.md5 !== sent)) {
          throw new VerifyError(`OSF reports ${f.size ?? '?'} bytes with md5 ${f.md5 ?? '?'} for ${path}, but ${size} bytes with md5 ${sent} were sent`);
        }
        return this.trusted(f);
      }
    });
    index.set(path, stored);
  }

  /** Downloads a file, resuming a partial one with Range; the length is checked against OSF's size. */
  async get(path: string, file: LocalPath, t: TransferContext): Promise<void> {
    const f = await this.find(path, t);
    if (!f) throw new RemoteError(`${path} is not in OSF node ${this.settings.node}`);
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
  async delete(path: string, ctx: RequestContext): Promise<void> {
    const f = await this.find(path, ctx);
    if (!f) return;
    await this.retry('remove', ctx, async () => {
      const res = await this.client.request('DELETE', f.delete, ctx);
      if (res.statusCode !== 204 && res.statusCode !== 200 && res.statusCode !== 404) throw await this.client.failure(res, 'DELETE', f.delete);
      await res.body.dump();
    });
    (await this.files(ctx)).delete(f.path);
  }

  /** Deletes exactly the folder at `dir` with what is in it; a missing one counts as deleted. */
  async deleteFolder(dir: string, ctx: RequestContext): Promise<void> {
    const index = await this.files(ctx);
    const folder = await this.folders.peek(dir)?.catch(() => undefined);
    if (folder?.delete) {
      const url = folder.delete;
      await this.retry('remove folder', ctx, async () => {
        const res = await this.client.request('DELETE', url, ctx);
        if (res.statusCode !== 204 && res.statusCode !== 200 && res.statusCode !== 404) throw await this.client.failure(res, 'DELETE', url);
        await res.body.dump();
      });
    }
    for (const p of [...index.keys()]) if (p.startsWith(`${dir}/`)) index.delete(p);
    this.folders.forget((p) => p === dir || p.startsWith(`${dir}/`));
  }

  /** Moves a file to `to` on the server (WaterButler move), replacing what is there. */
  async move(from: string, to: string, ctx: RequestContext): Promise<void> {
    const f = await this.find(from, ctx);
    if (!f) throw new RemoteError(`cannot rename ${from}: it is not in OSF node ${this.settings.node}`);
    const dest = await this.folder(dirOf(to), ctx);
    const body = JSON.stringify({ action: 'move', path: dest.osfPath, rename: baseOf(to), conflict: 'replace', provider: 'osfstorage' });
    const moved = await this.retry('rename', ctx, async (attempt) => {
      const res = await this.client.request('POST', f.move, ctx, { headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body: () => body });
      // An earlier attempt whose answer was lost moved it already.
      if (res.statusCode === 404 && attempt > 1) {
        await res.body.dump();
        const there = await this.lookup(to, ctx);
        if (there) return there;
      }
      if (res.statusCode !== 200 && res.statusCode !== 201) throw await this.client.failure(res, 'POST', f.move);
      const g = fileOf(at(JSON.parse(await readText(res, 4 * 1024 * 1024)) as JsonValue, 'data'), dirOf(to));
      if (!g) throw new NotOsfError(`POST ${f.move} answered HTTP ${res.statusCode} without a file entity`);
      return this.trusted(g);
    });
    const index = await this.files(ctx);
    index.delete(from);
    index.set(to, moved);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

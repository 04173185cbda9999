/**
 * Resource operations on the remote's collection: atomic upload (PUT to a
 * temporary name, then MOVE into place), resumable GET, PROPFIND, DELETE, MOVE,
 * MKCOL of missing parents, and the PROPFIND check of initremote. Every
 * request is retried per the remote's policy.
 *
 * Temporary uploads live in one place, <url>/.annexd-tmp/<16 hex digits>, so
 * a later process finds what an interrupted one left behind (a server such as
 * rclone keeps a cut upload, and a DELETE right after the cut can meet
 * `423 Locked` while the server still holds the upload open). The first store
 * of each process lists that collection once and deletes leftovers the server
 * last modified at least LEFTOVER_AGE_MS ago (by the server's own clock), so
 * another process's live upload is never touched. Nothing in it is ever read
 * as content: keys and export paths never point into it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { TransferContext } from '../core/backend.js';
import { fileSize, partialSize, WHOLE_BODY_MAX, writeFrom } from '../core/local-file.js';
import type { Held } from '../core/keys.js';
import { contentLength, headerValue } from '../core/http-headers.js';
import { IncompleteTransferError } from '../core/net-errors.js';
import { HttpStatusError } from '../core/http-error.js';
import { orAlreadyDone, retrier, type Retrier } from '../core/retry.js';
import type { DavClient, DavResponse } from './client.js';
import { TMP_COLLECTION, type WebdavSettings } from './config.js';
import { classifyDavError, describeDavError, isUtf8Path, NameRefusedError, NotWebdavError, notWebdavReason } from './errors.js';
import { parseContentRange } from '../core/content-range.js';
import { readText } from '../core/read-text.js';
import { httpRangeAnswer, parallelGet, versionHeaders, type RangeGet } from '../core/parallel-get.js';

const ok = (status: number): boolean => status >= 200 && status < 300;

/** Temporary upload names: nothing else in TMP_COLLECTION is ever deleted. */
const TMP_NAME = /^[0-9a-f]{16}$/;
/**
 * A temporary upload untouched this long is a leftover, not another process's
 * live upload: a live one writes more often than the server's and undici's
 * request timeouts (minutes) allow it to pause.
 */
export const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/** A parent collection is missing: servers answer 409 (RFC 4918) or 404. */
const parentMissing = (status: number): boolean => status === 404 || status === 409;

/** "/a/b/c" → "/a/b"; the root has no parent. */
function parentOf(path: string): string | undefined {
  const i = path.lastIndexOf('/');
  return i <= 0 ? undefined : path.slice(0, i);
}

/** The file as an async iterable, reporting bytes as undici reads them; read errors fail the request. */
async function* fileChunks(file: LocalPath, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
    onBytes((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}

const LENGTH_PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/></D:prop></D:propfind>\n';

const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>\n';

const MODIFIED_PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/></D:prop></D:propfind>\n';

/** The <response> entries of a multistatus: last path segment of the href, and getlastmodified in ms. */
function modifiedEntries(xml: string): Array<{ name: string; modified: number }> {
  const out: Array<{ name: string; modified: number }> = [];
  for (const m of xml.matchAll(/<(?:[\w-]+:)?response\b[^>]*>([\s\S]*?)<\/(?:[\w-]+:)?response>/gi)) {
    const body = m[1] ?? '';
    const href = /<(?:[\w-]+:)?href[^>]*>([^<]*)</i.exec(body)?.[1];
    const modified = /<(?:[\w-]+:)?getlastmodified[^>]*>([^<]*)</i.exec(body)?.[1];
    if (href === undefined || modified === undefined) continue;
    const name = href.replace(/\/+$/, '').split('/').pop() ?? '';
    out.push({ name: decodeURIComponent(name), modified: Date.parse(modified) });
  }
  return out;
}

/** Bounds on the PROPFIND answers read into memory. */
const MAX_MULTISTATUS = 16 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

export class DavStore {
  /** Collections known to exist (or being created) in this process, by absolute path. */
  private readonly collections = new Map<string, Promise<void>>();
  /** Whether this process looked for leftovers of earlier runs yet (once per process). */
  private swept = false;
  /** This process's temporary uploads whose DELETE failed (e.g. 423 Locked): tried again at close. */
  private readonly undeleted = new Set<string>();

  private readonly retry: Retrier;

  constructor(
    readonly client: DavClient,
    readonly settings: WebdavSettings,
  ) {
    this.retry = retrier({ retries: settings.retries, classify: classifyDavError, describe: (e, what) => describeDavError(e, what, settings), endpoint: settings.url });
    // initremote made sure of the remote's own collection (ensureBase re-checks it).
    this.collections.set(client.basePath.replace(/\/$/, ''), Promise.resolve());
  }

  /** Absolute path of a resource path relative to the remote's collection. */
  path(rel: string): string {
    return this.client.basePath + rel;
  }


  /**
   * Makes sure a collection exists, creating missing parents first (top-down,
   * so a new hash directory costs its MKCOLs and no failed request). `stale` says a
   * request just found it missing, so a remembered "exists" is out of date
   * (e.g. removed by an export). Each MKCOL is retried on its own.
   */
  private ensureCollection(path: string, ctx: RequestContext, stale: boolean): Promise<void> {
    if (stale) this.collections.delete(path);
    let pending = this.collections.get(path);
    if (!pending) {
      pending = this.createCollection(path, ctx);
      this.collections.set(path, pending);
      pending.catch(() => this.collections.delete(path));
    }
    return pending;
  }

  private async createCollection(path: string, ctx: RequestContext): Promise<void> {
    const parent = parentOf(path);
    // Top-down only inside the remote's collection: above it (initremote creating the
    // url itself) a server may refuse MKCOL on existing parents, so go up only on 409.
    const base = this.client.basePath.replace(/\/$/, '');
    if (parent !== undefined && (parent === base || parent.startsWith(`${base}/`))) {
      await this.ensureCollection(parent, ctx, false);
    }
    await this.retry('create collection', ctx, async () => {
      let res = await this.client.request('MKCOL', `${path}/`, { signal: ctx.signal });
      // The parent was remembered but is gone (removed behind our back): make it again, once.
      if (parentMissing(res.statusCode) && parent !== undefined) {
        await res.body.dump();
        await this.ensureCollection(parent, ctx, true);
        res = await this.client.request('MKCOL', `${path}/`, { signal: ctx.signal });
      }
      // 405: something exists there already (made earlier, or by another job or process).
      if (!ok(res.statusCode) && res.statusCode !== 405) throw await this.client.failure(res, 'MKCOL', `${path}/`);
      await res.body.dump();
    });
  }

  /** Forgets remembered collections at or below `path`. */
  private forgetCollections(path: string): void {
    for (const p of this.collections.keys()) if (p === path || p.startsWith(`${path}/`)) this.collections.delete(p);
  }

  /** Absolute path of the collection holding temporary uploads. */
  private get tmpDir(): string {
    return this.path(TMP_COLLECTION);
  }

  /**
   * Uploads a file to `rel`. It goes to a fresh temporary name in TMP_COLLECTION
   * (a new one per attempt: the server may still hold a cut attempt's name
   * locked) and is moved into place when complete, so it is never visible
   * under its final name half-written.
   */
  async put(rel: string, file: LocalPath, t: TransferContext): Promise<void> {
    const size = await fileSize(file);
    const target = this.path(rel);
    const dir = parentOf(target) ?? '';
    // Each collection before the request that needs it (remembered, so usually free): lighttpd
    // answers an empty PUT into a missing collection with 500, not 409, and rclone a MOVE into
    // one with 403. The target's new hash directories are made while the body goes up, and the
    // leftover sweep runs beside it too: across a wide-area link, round trips in a row are the cost.
    const dirReady = this.ensureCollection(dir, t, false);
    dirReady.catch(() => undefined); // awaited before the MOVE; a failed PUT must not leave it unhandled
    const swept = this.sweepOnce(t);
    await this.ensureCollection(this.tmpDir, t, false);
    // A small file goes as one buffer (see WHOLE_BODY_MAX), read once for every attempt.
    const whole = size <= WHOLE_BODY_MAX ? await readFile(file) : undefined;
    let tmp = '';
    try {
      await this.retry('store', t, async () => {
        tmp = `${this.tmpDir}/${randomBytes(8).toString('hex')}`;
        const send = async (): Promise<DavResponse> => {
          let sent = 0;
          const res = await this.client.request('PUT', tmp, {
            headers: { 'content-length': String(whole?.length ?? size), 'content-type': 'application/octet-stream' },
            body: whole ?? Readable.from(fileChunks(file, (n) => t.progress.set((sent += n)))),
            signal: t.signal,
          });
          if (whole) t.progress.set(whole.length);
          return res;
        };
        try {
          let res = await send();
          if (parentMissing(res.statusCode)) {
            await res.body.dump();
            await this.ensureCollection(this.tmpDir, t, true);
            res = await send();
          }
          if (!ok(res.statusCode)) throw await this.client.failure(res, 'PUT', tmp);
          await res.body.dump();
        } catch (err) {
          // Also after a failed PUT: an attempt whose answer was lost may have stored it.
          await this.discard(tmp);
          tmp = '';
          throw err;
        }
      });
      await dirReady;
      await this.movePath(tmp, target, t);
    } catch (err) {
      if (tmp) await this.discard(tmp);
      throw err;
    } finally {
      await swept;
    }
  }

  /** Deletes one of this process's temporary uploads; one the server refuses to delete now is tried again at close. */
  private async discard(tmp: string): Promise<void> {
    if (await this.deleteQuietly(tmp)) this.undeleted.delete(tmp);
    else this.undeleted.add(tmp);
  }

  /** A DELETE that never throws: true when the resource is gone. */
  private async deleteQuietly(path: string): Promise<boolean> {
    try {
      const res = await this.client.request('DELETE', path, { signal: AbortSignal.timeout(10_000) });
      await res.body.dump();
      return ok(res.statusCode) || res.statusCode === 404;
    } catch {
      return false;
    }
  }

  /**
   * Once per process, before its first store: deletes temporary uploads that
   * earlier runs left in TMP_COLLECTION (one PROPFIND of Depth 1, then a DELETE
   * per leftover). Only names of our own pattern, and only ones the server last
   * modified at least LEFTOVER_AGE_MS ago; a leftover the server still holds
   * locked is left for a later run. Best effort: never fails the store.
   */
  private async sweepOnce(ctx: RequestContext): Promise<void> {
    if (this.swept) return;
    this.swept = true;
    try {
      const listing = await this.propfind(`${this.tmpDir}/`, '1', MODIFIED_PROPFIND_BODY, ctx);
      if (!listing) return;
      // The server's clock, not ours: getlastmodified is the server's time.
      const now = Date.parse(listing.date ?? '') || Date.now();
      const old = modifiedEntries(listing.xml).filter((e) => TMP_NAME.test(e.name) && now - e.modified >= LEFTOVER_AGE_MS);
      for (const { name } of old) {
        const gone = await this.deleteQuietly(`${this.tmpDir}/${name}`);
        await ctx.annex.debug(`${gone ? 'deleted' : 'could not delete (yet)'} ${TMP_COLLECTION}/${name}, a temporary upload an earlier run left behind`);
      }
    } catch {
      // Leftovers wait for the next process.
    }
  }

  /**
   * Downloads `rel` into `file`. A partial file from an earlier attempt is
   * resumed with a Range request; a cut connection resumes the same way.
   */
  async get(rel: string, file: LocalPath, t: TransferContext, size?: number): Promise<void> {
    const path = this.path(rel);
    const ranged: RangeGet = async (start, end, version, signal) => {
      const res = await this.client.request('GET', path, { headers: { range: `bytes=${start}-${end}`, ...versionHeaders(version) }, signal });
      const answer = httpRangeAnswer(res.statusCode, res.headers, res.body, version, this.client.url(path));
      if (!answer) throw await this.client.failure(res, 'GET', path);
      return answer;
    };
    if (await parallelGet(file, size, this.settings.download, ranged, (what, op) => this.retry(what, t, op), t)) return;
    await this.retry('retrieve', t, async () => {
      let offset = await partialSize(file);
      t.progress.set(offset);
      const request = (from: number): Promise<DavResponse> =>
        this.client.request('GET', path, { headers: from > 0 ? { range: `bytes=${from}-` } : {}, signal: t.signal });
      let res = await request(offset);
      if (res.statusCode === 416) {
        await res.body.dump();
        // Nothing past our offset: either the file is already complete, or it is longer than the resource.
        if ((await this.statOnce(path, t))?.size === offset) return;
        offset = 0;
        res = await request(0);
      }
      let start = 0;
      let total: number | undefined;
      if (res.statusCode === 206) {
        const range = parseContentRange(res.headers['content-range']);
        if (!range || range.start > offset) {
          await res.body.dump();
          throw new RemoteError(`the server at ${this.settings.url} answered a range request with an unusable range`);
        }
        ({ start, total } = range);
      } else if (res.statusCode === 200) {
        total = contentLength(res.headers);
      } else {
        throw await this.client.failure(res, 'GET', path);
      }
      let got = 0;
      await writeFrom(file, start, res.body, (n) => t.progress.set(start + (got += n)), t.signal);
      if (total !== undefined && start + got !== total) throw new IncompleteTransferError(total, start + got);
    });
  }

  /**
   * What the server holds at a path (one PROPFIND of Depth 0, not retried).
   * Not HEAD: undici closes the connection after every HEAD, and a new
   * connection per CHECKPRESENT costs more than the request.
   */
  private async statOnce(path: string, ctx: RequestContext): Promise<Held> {
    const xml = (await this.propfind(path, '0', LENGTH_PROPFIND_BODY, ctx))?.xml;
    if (xml === undefined) return undefined;
    const length = /<(?:[\w-]+:)?getcontentlength[^>]*>\s*(\d+)\s*</i.exec(xml)?.[1];
    return { size: length === undefined ? undefined : Number(length) };
  }

  /**
   * One PROPFIND (not retried): the multistatus of a 207, undefined on 404.
   * An answer no WebDAV server gives (see notWebdavReason) is a NotWebdavError,
   * so a URL that points at an S3 or plain web server says so, never that a key is absent.
   */
  private async propfind(
    path: string,
    depth: '0' | '1',
    body: string,
    ctx: RequestContext,
  ): Promise<{ xml: string; date: string | undefined } | undefined> {
    const res = await this.client.request('PROPFIND', path, {
      headers: { depth, 'content-type': 'application/xml; charset=utf-8' },
      body,
      signal: ctx.signal,
    });
    // A server that ignores PROPFIND may send a whole file: read only what a verdict needs.
    const text = await readText(res.body, res.statusCode === 207 ? MAX_MULTISTATUS : MAX_ERROR_BODY);
    // A 400 for a name that is not UTF-8 is about the name; the server is a WebDAV server.
    if (res.statusCode === 400 && !isUtf8Path(path)) throw new NameRefusedError(this.client.url(path), 400);
    const notDav = notWebdavReason(res.statusCode, text);
    if (notDav) throw new NotWebdavError(this.settings.url, notDav);
    if (res.statusCode === 207) return { xml: text, date: headerValue(res.headers, 'date') };
    if (res.statusCode === 404) return undefined;
    throw this.client.statusError(res, 'PROPFIND', path);
  }

  /** What the server holds at `rel`, when it says so; anything else throws. */
  stat(rel: string, ctx: RequestContext): Promise<Held> {
    return this.retry('check presence', ctx, () => this.statOnce(this.path(rel), ctx));
  }

  /** Deletes a resource (a collection when `rel` ends in "/"); an absent one counts as deleted. */
  async delete(rel: string, ctx: RequestContext): Promise<void> {
    const path = this.path(rel);
    if (path.endsWith('/')) this.forgetCollections(path.slice(0, -1));
    await this.retry('remove', ctx, async () => {
      const res = await this.client.request('DELETE', path, { signal: ctx.signal });
      if (!ok(res.statusCode) && res.statusCode !== 404) throw await this.client.failure(res, 'DELETE', path);
      await res.body.dump();
    });
  }

  /** Server-side rename, replacing whatever is at the destination. */
  async move(fromRel: string, toRel: string, ctx: RequestContext): Promise<void> {
    await this.movePath(this.path(fromRel), this.path(toRel), ctx);
  }

  /**
   * MOVE, with the destination's parent collections made first (remembered per
   * process, as for PUT): servers answer a MOVE into a missing collection with
   * 409, 404, 403 (rclone) or 500 (Apache), which cannot be told from other failures.
   * A 403/404/409 despite that (the parent removed behind our back) makes it again, once.
   */
  private async movePath(from: string, to: string, ctx: RequestContext): Promise<void> {
    const parent = parentOf(to);
    if (parent !== undefined) await this.ensureCollection(parent, ctx, false);
    const move = async (): Promise<void> => {
      const send = (): Promise<DavResponse> =>
        this.client.request('MOVE', from, {
          headers: { destination: this.client.url(to), overwrite: 'T' },
          signal: ctx.signal,
        });
      let res = await send();
      if ((parentMissing(res.statusCode) || res.statusCode === 403) && parent !== undefined) {
        await res.body.dump();
        await this.ensureCollection(parent, ctx, true);
        res = await send();
      }
      if (!ok(res.statusCode)) {
        if ((res.statusCode === 400 || res.statusCode === 404) && !isUtf8Path(to)) {
          await res.body.dump();
          throw new NameRefusedError(this.client.url(to), res.statusCode);
        }
        throw await this.client.failure(res, 'MOVE', from);
      }
      await res.body.dump();
    };
    // The source gone and the destination there: an attempt whose answer was lost moved it.
    const moved = async (): Promise<boolean> =>
      (await this.statOnce(from, ctx)) === undefined && (await this.statOnce(to, ctx)) !== undefined;
    await this.retry('move', ctx, orAlreadyDone(move, moved));
  }

  /** At the end of the process: tries once more to delete temporary uploads whose DELETE failed. */
  async close(): Promise<void> {
    for (const tmp of [...this.undeleted]) if (await this.deleteQuietly(tmp)) this.undeleted.delete(tmp);
    await this.client.close();
  }

  /**
   * INITREMOTE's check: the URL must be a WebDAV collection (PROPFIND Depth 0);
   * a missing one is created with its missing parents.
   */
  async ensureBase(ctx: RequestContext): Promise<'found' | 'created'> {
    const base = this.client.basePath;
    const status = await this.retry('check url', ctx, async () => {
      const xml = (await this.propfind(base, '0', PROPFIND_BODY, ctx))?.xml;
      if (xml === undefined) return 404;
      if (!/<([\w-]+:)?collection\b/i.test(xml)) {
        throw new RemoteError(`${this.settings.url} is a file on the server, not a WebDAV collection: check url=`);
      }
      return 207;
    });
    if (status === 207) return 'found';
    try {
      await this.ensureCollection(base.replace(/\/$/, ''), ctx, true);
    } catch (err) {
      // Nothing there, and MKCOL unknown even at the top: no WebDAV server serves this path.
      if (err instanceof HttpStatusError && err.method === 'MKCOL' && [400, 404, 501].includes(err.status)) {
        throw new NotWebdavError(this.settings.url, `nothing is at the URL, and MKCOL ${err.url} answered HTTP ${err.status}`);
      }
      throw err;
    }
    return 'created';
  }
}

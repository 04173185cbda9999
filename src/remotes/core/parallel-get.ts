/**
 * Downloads of large objects over several connections at once. Across a
 * wide-area link one TCP stream is capped by latency and by per-connection
 * limits of object stores; ranges fetched in parallel and written into place
 * at their offsets are not. Written by hand: no maintained library does
 * ranged, resumable, version-checked parallel GETs into a file for an
 * arbitrary HTTP client (undici, the AWS SDK and node:http all take part).
 *
 * - The first range fixes the object's version (ETag, else Last-Modified) and
 *   size; every later range asks for that version (If-Match) and must come
 *   back with it, so a file is never assembled from two versions: a change
 *   mid-download starts the download over once, then fails.
 * - A server that ignores Range (200 to a ranged GET) gets one plain stream.
 * - A server that names no version (no ETag, no Last-Modified: lighttpd's
 *   mod_webdav) cannot be asked for one, so ranges could mix versions: its
 *   first answer is dropped unread and the object comes in one stream.
 * - Each range is retried on its own, from the bytes it already wrote.
 * - The ranges go into FILE.annexd-parts, renamed to FILE when complete:
 *   git-annex hashes FILE as it grows, expecting bytes in order, so the file
 *   it watches must appear whole. Finished ranges are noted beside it
 *   (FILE.annexd-ranges), so an interrupted download resumes with the ranges
 *   it lacks, for the same version. A partial FILE from a one-stream attempt
 *   is resumed in one stream instead, as before.
 * - Memory: each stream holds at most the writer's unwritten limit.
 */
import { open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { LocalPath } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { TransferContext } from './backend.js';
import { integer, size, type FieldSpec } from './config.js';
import { parseContentRange } from './content-range.js';
import { contentLength, headerValue, type Headers } from './http-headers.js';
import { partialSize, writeAt, writeFrom } from './local-file.js';
import { IncompleteTransferError } from './net-errors.js';

const MiB = 1024 * 1024;

/** The settings every remote with ranged downloads offers, declared once. */
export const parallelDownloadSchema = {
  downloadstreams: integer('connections per download of a large object (default 8; 1 downloads in one stream)', 8, 1, 32),
  downloadthreshold: size('objects at least this big are downloaded in parallel ranges (default 64MiB)', '64MiB', MiB),
  downloadrangesize: size('size of each range of a parallel download (default 16MiB)', '16MiB', 256 * 1024),
} satisfies Record<string, FieldSpec<unknown>>;

export interface ParallelDownloadSettings {
  streams: number;
  threshold: number;
  rangeSize: number;
}

export function parallelDownloadSettings(c: { downloadstreams: number; downloadthreshold: number; downloadrangesize: number }): ParallelDownloadSettings {
  return { streams: c.downloadstreams, threshold: c.downloadthreshold, rangeSize: c.downloadrangesize };
}

/** What a server answered to a ranged GET. */
export interface RangeAnswer {
  /** 206 for the range asked; 200 when the server ignores Range and sends the whole object. */
  status: 200 | 206;
  /** First byte of the body (0 for a 200). */
  start: number;
  /** The object's size as the server says (Content-Range's total, or a 200's length). */
  total: number | undefined;
  /**
   * The object's version as the answer names it, preferred first: its strong
   * ETag, its Last-Modified (see httpVersions); empty when it names none.
   */
  versions: string[];
  body: Readable | AsyncIterable<Uint8Array>;
}

/**
 * GETs bytes [start, end] (inclusive) of the object; with `version`, only of
 * that version: a server that knows it changed answers 412, which the
 * backend reports by throwing ObjectChangedError.
 */
export type RangeGet = (start: number, end: number, version: string | undefined, signal: AbortSignal) => Promise<RangeAnswer>;

/**
 * The versions an HTTP answer names: its ETag when strong (weak ones cannot be
 * asked for with If-Match; Apache sends a weak one for a file changed within
 * the second), then its Last-Modified, marked as such.
 */
export function httpVersions(headers: Headers): string[] {
  const out: string[] = [];
  const etag = headerValue(headers, 'etag');
  if (etag && !etag.startsWith('W/')) out.push(etag);
  const modified = headerValue(headers, 'last-modified');
  if (modified) out.push(`${LAST_MODIFIED}${modified}`);
  return out;
}

const LAST_MODIFIED = 'last-modified:';
const sameKind = (a: string, b: string): boolean => a.startsWith(LAST_MODIFIED) === b.startsWith(LAST_MODIFIED);

/** The request headers that ask for exactly `version`. */
export function versionHeaders(version: string | undefined): Record<string, string> {
  if (version === undefined) return {};
  return version.startsWith(LAST_MODIFIED) ? { 'if-unmodified-since': version.slice(LAST_MODIFIED.length) } : { 'if-match': version };
}

/**
 * An HTTP answer to a ranged GET as a RangeAnswer; undefined when it is
 * neither 200 nor 206 (the caller reports it). 412 (not that version) and 416
 * with a version asked (shorter than it was) are ObjectChangedError.
 */
export function httpRangeAnswer(
  status: number,
  headers: Headers,
  body: Readable,
  askedVersion: string | undefined,
  what: string,
): RangeAnswer | undefined {
  if (status === 412 || (status === 416 && askedVersion !== undefined)) {
    body.resume();
    throw new ObjectChangedError(`${what} changed on the server during the download (HTTP ${status})`);
  }
  const versions = httpVersions(headers);
  if (status === 206) {
    const range = parseContentRange(headers['content-range']);
    if (!range) return undefined;
    return { status: 206, start: range.start, total: range.total, versions, body };
  }
  if (status === 200) return { status: 200, start: 0, total: contentLength(headers), versions, body };
  return undefined;
}

/** The object is not the version the download started with. */
export class ObjectChangedError extends RemoteError {}

/** Runs one range's attempts under the remote's retry policy. */
export type RangeRetry = <T>(what: string, op: () => Promise<T>) => Promise<T>;

interface Ranges {
  size: number;
  version: string | undefined;
  /** Indexes of the ranges already in the file. */
  done: number[];
}

const beside = (file: LocalPath, suffix: string): Buffer => Buffer.concat([Buffer.from(file), Buffer.from(suffix)]);
const rangesFile = (file: LocalPath): Buffer => beside(file, '.annexd-ranges');
const partsFile = (file: LocalPath): Buffer => beside(file, '.annexd-parts');

async function readRanges(file: LocalPath, size: number, rangeSize: number): Promise<Ranges | undefined> {
  try {
    const r = JSON.parse(await readFile(rangesFile(file), 'utf8')) as Partial<Ranges> & { rangeSize?: number };
    if (r.size !== size || r.rangeSize !== rangeSize || !Array.isArray(r.done)) return undefined;
    return { size, version: typeof r.version === 'string' ? r.version : undefined, done: r.done.filter((n) => Number.isInteger(n)) };
  } catch {
    return undefined;
  }
}

async function writeRanges(file: LocalPath, r: Ranges, rangeSize: number): Promise<void> {
  await writeFile(rangesFile(file), JSON.stringify({ ...r, rangeSize }) + '\n', { mode: 0o600 });
}

/**
 * Downloads `size` bytes into `file` over up to `s.streams` connections.
 * Returns false when it did not apply (the caller then downloads in one
 * stream as before): the object is small, or one stream was asked for.
 */
export async function parallelGet(
  file: LocalPath,
  size: number | undefined,
  s: ParallelDownloadSettings,
  get: RangeGet,
  retry: RangeRetry,
  t: TransferContext,
): Promise<boolean> {
  if (size === undefined || s.streams < 2 || size < s.threshold) return false;
  if ((await partialSize(file)) > 0) return false;
  let outcome: 'done' | 'one stream';
  try {
    outcome = await attempt(file, size, s, get, retry, t);
  } catch (err) {
    if (!(err instanceof ObjectChangedError)) throw err;
    // Once more from nothing, for the new version; a second change fails.
    await rm(rangesFile(file), { force: true });
    await rm(partsFile(file), { force: true });
    void t.annex.debug(`${err.message}; downloading it again from the start`);
    outcome = await attempt(file, size, s, get, retry, t);
  }
  await rm(rangesFile(file), { force: true });
  if (outcome === 'one stream') void t.annex.debug('the server names no ETag or Last-Modified, so ranges could mix versions: downloading in one stream');
  return outcome === 'done';
}

async function attempt(
  file: LocalPath,
  size: number,
  s: ParallelDownloadSettings,
  get: RangeGet,
  retry: RangeRetry,
  t: TransferContext,
): Promise<'done' | 'one stream'> {
  const count = Math.ceil(size / s.rangeSize);
  const parts = partsFile(file);
  const known = (await partialSize(parts)) > 0 ? await readRanges(file, size, s.rangeSize) : undefined;
  const state: Ranges = known ?? { size, version: undefined, done: [] };
  const done = new Set(state.done);
  /** Bytes of each range in the file. */
  const have = Array.from({ length: count }, (_, i) => (done.has(i) ? rangeEnd(i) - i * s.rangeSize : 0));
  const progress = (): void => t.progress.set(have.reduce((a, b) => a + b, 0));
  progress();
  function rangeEnd(i: number): number {
    return Math.min(size, (i + 1) * s.rangeSize);
  }

  const handle: FileHandle = await open(parts, known ? 'r+' : 'w', 0o644);
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(t.signal.reason);
  t.signal.addEventListener('abort', onAbort, { once: true });
  let failure: unknown;
  /** Notes of finished ranges, written one after another (workers finish at once). */
  let saving: Promise<void> = Promise.resolve();

  /** One range, resumed from its own bytes on each attempt. */
  const fetchRange = async (i: number): Promise<void> => {
    await retry(`retrieve range ${i + 1}/${count}`, async () => {
      const from = i * s.rangeSize + have[i]!;
      const to = rangeEnd(i) - 1;
      if (from > to) return;
      const answer = await get(from, to, state.version, stop.signal);
      if (answer.status === 200) throw new WholeObject(answer);
      if (answer.total !== undefined && answer.total !== size) {
        // Before any range fixed the version, the object simply is not the key's size.
        if (state.version === undefined && done.size === 0) {
          throw new RemoteError(`the object on the server has ${answer.total} bytes but the key ${size}: it is not this key's content`);
        }
        throw new ObjectChangedError(`the object changed on the server during the download (${size} bytes when it started, now ${answer.total})`);
      }
      if (answer.start !== from) {
        throw new ObjectChangedError(`the server answered range ${from}-${to} from byte ${answer.start}: the object changed on the server during the download`);
      }
      // Compared as the same kind of version (an ETag with an ETag); the If- header asked for it too.
      const fixed = state.version;
      const now = fixed === undefined ? undefined : answer.versions.find((v) => sameKind(v, fixed));
      if (fixed !== undefined && now !== undefined && now !== fixed) {
        throw new ObjectChangedError(`the object changed on the server during the download (version ${fixed}, now ${now})`);
      }
      state.version ??= answer.versions[0];
      if (state.version === undefined) {
        (answer.body as Readable).destroy?.();
        throw new NoVersion();
      }
      const want = to - from + 1;
      let got = 0;
      await writeAt(handle, from, answer.body, (n) => {
        got += n;
        have[i]! += n;
        progress();
      }, stop.signal);
      if (got !== want) throw new IncompleteTransferError(want, got);
    });
    done.add(i);
    const snapshot: Ranges = { ...state, done: [...done] };
    // (Only versioned downloads are noted: without a version, a resume could mix two.)
    saving = saving.then(() => writeRanges(file, snapshot, s.rangeSize)).catch(() => undefined);
    await saving;
  };

  let next = 0;
  const take = (): number | undefined => {
    while (next < count && done.has(next)) next++;
    return next < count ? next++ : undefined;
  };
  const run = async (i: number): Promise<void> => {
    try {
      await fetchRange(i);
    } catch (err) {
      failure ??= err;
      // A whole object's body is still to be read; anything else stops the other ranges.
      if (!(err instanceof WholeObject) && !(err instanceof NoVersion)) stop.abort(err);
    }
  };
  const worker = async (): Promise<void> => {
    for (let i = take(); i !== undefined && failure === undefined; i = take()) await run(i);
  };

  try {
    // The first missing range alone: it fixes the version, and shows whether Range is honoured.
    const first = take();
    if (first !== undefined) await run(first);
    if (failure === undefined) await Promise.all(Array.from({ length: Math.min(s.streams, count) }, worker));
    if (failure instanceof NoVersion) {
      await handle.close();
      await rm(parts, { force: true });
      return 'one stream';
    }
    if (failure instanceof WholeObject) {
      // The server ignores Range: its 200 is the whole object, in one stream.
      await handle.close().catch(() => undefined);
      await rm(parts, { force: true });
      const a = failure.answer;
      const got = await writeFrom(file, 0, a.body, (n) => t.progress.set(n), t.signal);
      if (a.total !== undefined && got !== a.total) throw new IncompleteTransferError(a.total, got);
      return 'done';
    }
    if (failure !== undefined) throw failure;
    await handle.close();
    await rename(parts, file);
    return 'done';
  } finally {
    t.signal.removeEventListener('abort', onAbort);
    await handle.close().catch(() => undefined);
    await saving;
  }
}

/** The first range came without a version: the rest must come in one stream. */
class NoVersion extends Error {
  constructor() {
    super('the server names no version of the object');
  }
}

/** Carries a 200 answer out of the workers: the server sent the whole object. */
class WholeObject extends Error {
  constructor(readonly answer: RangeAnswer) {
    super('the server ignores Range');
  }
}

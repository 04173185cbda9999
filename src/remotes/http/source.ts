/**
 * Reading one URL: what it holds (CHECKURL), whether it is there
 * (CHECKPRESENT), and downloading it with ranged resume and a length check.
 * Every request is retried per the remote's policy.
 */
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import type { TransferContext } from '../core/backend.js';
import { parseContentRange } from '../core/content-range.js';
import { contentLength, headerValue } from '../core/http-headers.js';
import { partialSize, writeFrom } from '../core/local-file.js';
import { IncompleteTransferError, isRetryableNetworkError } from '../core/net-errors.js';
import { httpRangeAnswer, parallelGet, versionHeaders, type ParallelDownloadSettings, type RangeGet } from '../core/parallel-get.js';
import { retryRequest } from '../core/retry.js';
import { truncate } from 'node:fs/promises';
import { dump, type HttpClient } from './client.js';
import { classifyHttpError, describeHttpError, SizeMismatchError } from './errors.js';
import { dispositionFilename, safeFilename, urlFilename } from './filename.js';

const ok = (status: number): boolean => status >= 200 && status < 300;
const gone = (status: number): boolean => status === 404 || status === 410;

/** What a URL holds, as far as the server says. */
export interface Probe {
  /** undefined when the server does not say. */
  size: number | undefined;
  filename: string | undefined;
  /** After redirects. */
  url: string;
}

export class HttpSource {
  constructor(
    readonly client: HttpClient,
    private readonly retries: number,
    private readonly parallel: ParallelDownloadSettings,
  ) {}

  private retry<T>(what: string, url: string, ctx: RequestContext, op: () => Promise<T>): Promise<T> {
    return retryRequest(op, {
      what: `${what} of ${url}`,
      ctx,
      retries: this.retries,
      classify: classifyHttpError,
      describe: (e) => describeHttpError(e, what, url),
      endpoint: url,
    });
  }

  /**
   * HEAD, or for servers that refuse HEAD a one-byte ranged GET. Returns the
   * answer with its body dumped; undefined when the URL is absent (404/410).
   */
  private async probeOnce(url: string, ctx: RequestContext): Promise<Probe | undefined> {
    let method: 'HEAD' | 'GET' = 'HEAD';
    let opened = await this.client.open(method, url, ctx);
    let size = contentLength(opened.res.headers);
    if (opened.res.statusCode === 405 || opened.res.statusCode === 501) {
      await dump(opened.res);
      method = 'GET';
      opened = await this.client.open(method, url, ctx, 'bytes=0-0');
      if (opened.res.statusCode === 206) {
        size = parseContentRange(opened.res.headers['content-range'])?.total;
      } else {
        size = contentLength(opened.res.headers);
        // A server that ignores Range sends the whole file: hang up rather than read it.
        if (ok(opened.res.statusCode)) opened.res.body.destroy();
      }
    }
    const { res } = opened;
    if (gone(res.statusCode)) {
      await dump(res);
      return undefined;
    }
    if (!ok(res.statusCode)) throw await this.client.failure(opened, method);
    await dump(res);
    const filename = safeFilename(dispositionFilename(headerValue(res.headers, 'content-disposition')) ?? urlFilename(opened.url));
    return { size, filename, url: opened.url };
  }

  /** What the URL holds; undefined when the server says it is absent. */
  probe(url: string, ctx: RequestContext): Promise<Probe | undefined> {
    return this.retry('check', url, ctx, () => this.probeOnce(url, ctx));
  }

  /**
   * Downloads `url` into `file`, resuming a partial file with a Range request;
   * a cut connection resumes the same way. With `expectedSize` (from the key),
   * content of another size is refused and not left behind.
   */
  async download(url: string, file: LocalPath, expectedSize: number | undefined, t: TransferContext): Promise<void> {
    const ranged: RangeGet = async (start, end, version, signal) => {
      const opened = await this.client.open('GET', url, t, `bytes=${start}-${end}`, versionHeaders(version), signal);
      const answer = httpRangeAnswer(opened.res.statusCode, opened.res.headers, opened.res.body, version, opened.url);
      if (!answer) throw await this.client.failure(opened, 'GET');
      return answer;
    };
    if (await parallelGet(file, expectedSize, this.parallel, ranged, (what, op) => this.retry(what, url, t, op), t)) return;
    await this.retry('download', url, t, async () => {
      let offset = await partialSize(file);
      if (expectedSize !== undefined && offset > expectedSize) offset = 0;
      t.progress.set(offset);
      if (offset > 0) void t.annex.debug(`resuming ${url} from byte ${offset}`);
      let opened = await this.client.open('GET', url, t, offset > 0 ? `bytes=${offset}-` : undefined);
      if (opened.res.statusCode === 416) {
        // Nothing past our offset: either the file is complete already, or the server's is shorter.
        await dump(opened.res);
        const probe = await this.probeOnce(url, t);
        if (probe?.size === offset) return;
        offset = 0;
        opened = await this.client.open('GET', url, t);
      }
      const { res } = opened;
      let start = 0;
      let total: number | undefined;
      if (res.statusCode === 206) {
        const range = parseContentRange(res.headers['content-range']);
        if (!range || range.start > offset) {
          await dump(res);
          throw new Error(`${opened.url} answered a range request with an unusable range (${headerValue(res.headers, 'content-range') ?? 'none'})`);
        }
        ({ start, total } = range);
      } else if (res.statusCode === 200) {
        total = contentLength(res.headers);
      } else {
        throw await this.client.failure(opened, 'GET');
      }
      if (total !== undefined && expectedSize !== undefined && total !== expectedSize) {
        await dump(res);
        throw new SizeMismatchError(opened.url, total, expectedSize);
      }
      let got = 0;
      try {
        await writeFrom(file, start, res.body, (n) => t.progress.set(start + (got += n)), t.signal);
      } catch (err) {
        // A body that ends before its announced length: say so, with the figures.
        if (total !== undefined && start + got < total && isRetryableNetworkError(err)) {
          throw Object.assign(new IncompleteTransferError(total, start + got), { cause: err });
        }
        throw err;
      }
      const size = start + got;
      if (total !== undefined && size !== total) throw new IncompleteTransferError(total, size);
      if (expectedSize !== undefined && size !== expectedSize) {
        // Without a length the server announced, only the key tells us the content is wrong; keep none of it.
        await truncate(file, 0);
        throw new SizeMismatchError(opened.url, size, expectedSize);
      }
    });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/**
 * Object operations against one bucket: streaming single PUT, parallel
 * multipart upload (aborted on failure so no parts stay behind), ranged and
 * resumable GET, HEAD, DELETE, server-side copy. Every request is retried per
 * the remote's policy; the AWS SDK is loaded only here, on first need.
 */
import { open, readFile } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { TransferContext } from '../core/backend.js';
import type { Credential } from '../core/credentials.js';
import type { Held } from '../core/keys.js';
import { fileSize, partialSize, WHOLE_BODY_MAX, writeFrom } from '../core/local-file.js';
import { IncompleteTransferError } from '../core/net-errors.js';
import { countingStream } from '../core/progress.js';
import { orAlreadyDone, retrier, type Retrier } from '../core/retry.js';
import { formatSize } from '../core/sizes.js';
import { describeEndpoint, endpointUrl, type S3Settings } from './config.js';
import { addressingAdvice, classifyS3Error, describeS3Error, errorName, httpStatus, lacksCall, MissingCallError, notS3Answer } from './errors.js';
import { LeanS3, leanError, S3HttpError, type CredentialsProvider } from './lean-request.js';
import { needsParts, partRange, planParts } from './multipart-plan.js';
import { parseContentRange } from '../core/content-range.js';
import { contentLength, headerValue } from '../core/http-headers.js';
import { ObjectChangedError, parallelGet, type RangeGet } from '../core/parallel-get.js';

type Sdk = typeof import('@aws-sdk/client-s3');

/**
 * Part requests in flight in this process, over all files: `copy -J8` with 8
 * parts per file would otherwise open 64 streams, past what the CPU and the
 * link use (bench/s3-multipart.mjs: 4 files × 8 parts was slower than × 4 and
 * took 138 MiB against 124 MiB), so memory stays bounded whatever -J says.
 */
const PARTS_IN_FLIGHT = 16;

/** Longest silence while a lean PUT or GET body is under way (the SDK client's request timeout). */
const BODY_TIMEOUT_MS = 120_000;

/** A counting semaphore (a dozen lines; no dependency for it). */
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(count: number) {
    this.free = count;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}
const partSlots = new Slots(PARTS_IN_FLIGHT);

/** Delay before the second AbortMultipartUpload. */
const ABORT_AGAIN_AFTER_MS = 250;

const ignore = (): void => undefined;
const SILENT_LOGGER = { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: ignore };

let sdkPromise: Promise<Sdk> | undefined;
/** Loads the SDK once, on first use (it costs ~150 ms, too much for start-up). */
export function loadSdk(): Promise<Sdk> {
  // The SDK warns on Node 20 about its future requirements; a git-annex user mid-transfer cannot act on that.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  sdkPromise ??= import('@aws-sdk/client-s3');
  return sdkPromise;
}

/**
 * Sends a request whose body is bytes [start, end) of a file, counting them.
 * The file is opened first, so a missing file fails before any request. A read
 * error mid-body aborts the request: the SDK would otherwise wait for the
 * server's timeout, and the error is then the read error, not a retryable timeout.
 */
async function withFileBody<T>(
  file: LocalPath,
  start: number,
  end: number,
  onBytes: (n: number) => void,
  signal: AbortSignal,
  send: (body: Readable | string, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (end <= start) return send('', signal);
  const handle = await open(file, 'r');
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let readError: unknown;
  const counter = countingStream(onBytes);
  const source = handle.createReadStream({ start, end: end - 1, highWaterMark: 256 * 1024 });
  pipeline(source, counter).catch((err: unknown) => {
    readError = err;
    stop.abort(err);
  });
  try {
    return await send(counter, stop.signal);
  } catch (err) {
    throw readError ?? err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    source.destroy();
  }
}

export class S3Store {
  /** Whether the user was told that this server keeps the parts of aborted uploads (said once per process). */
  private toldNoAbort = false;

  private readonly retry: Retrier;

  private sdkClient: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  /** The client once made, for close(). */
  private made: { client: S3Client } | undefined;
  private readonly lean: LeanS3;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };

  /**
   * A store for bucket `s.bucket`, signing with `keys`, else with what the
   * SDK resolves for AWS `profile`. Nothing is loaded or sent yet: HEAD,
   * DELETE and the PUT and GET of small objects go on the lean path
   * (lean-request.ts), and the AWS SDK (about 100 ms of CPU to load, which the
   * event loop cannot spend on anything else) is loaded by the first call that
   * needs it. So `fsck`, `drop`, and `copy` or `get` of small files never load it.
   */
  private constructor(
    readonly settings: S3Settings,
    private readonly keys: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined,
    private readonly profile: string | undefined,
  ) {
    this.retry = retrier({ retries: settings.retries, classify: classifyS3Error, describe: (e, what) => describeS3Error(e, what, settings), endpoint: endpointUrl(settings) });
    const credentials: CredentialsProvider = async () => keys ?? (await this.full()).client.config.credentials();
    this.lean = new LeanS3(settings, credentials, this.agents);
  }

  static connect(s: S3Settings, credential: Credential | undefined, profile?: string): S3Store {
    const keys = credential && { accessKeyId: credential.user, secretAccessKey: credential.secret, sessionToken: credential.sessionToken };
    return new S3Store(s, keys, profile);
  }

  /** The SDK and its client, made on first use; they share the lean path's keep-alive agents. */
  private full(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.sdkClient ??= loadSdk().then((sdk) => {
      const s = this.settings;
      const client = new sdk.S3Client({
        region: s.region,
        endpoint: s.endpoint,
        forcePathStyle: s.pathStyle,
        credentials: this.keys,
        profile: this.profile,
        // Retries are ours (bounded, Retry-After aware, resuming); the SDK's would nest inside them.
        maxAttempts: 1,
        // Silent, as the SDK's default logger is; with that default, a failed upload prints
        // "An error was encountered in a non-retryable streaming request." even though we retry it.
        logger: SILENT_LOGGER,
        // S3-compatible servers often lack the newer streaming checksum trailers.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: {
          httpAgent: this.agents.http,
          httpsAgent: this.agents.https,
          connectionTimeout: 10_000,
          requestTimeout: BODY_TIMEOUT_MS,
        },
      });
      this.made = { client };
      return { sdk, client };
    });
    return this.sdkClient;
  }

  private get bucket(): string {
    return this.settings.bucket;
  }

  /** Checks the bucket exists (creating it when allowed). */
  async ensureBucket(ctx: RequestContext): Promise<'exists' | 'created'> {
    const { sdk: { HeadBucketCommand, CreateBucketCommand }, client } = await this.full();
    try {
      await this.retry('check bucket', ctx, () =>
        client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: ctx.signal }),
      );
      return 'exists';
    } catch (err) {
      if (httpStatus(err) === 403) throw await this.explained(err, ctx);
      if (httpStatus(err) !== 404) throw err;
      if (!this.settings.createBucket) {
        throw new RemoteError(
          `bucket "${this.bucket}" does not exist; create it first, or leave createbucket=yes (the default)`,
        );
      }
    }
    const region = this.settings.region;
    await this.retry('create bucket', ctx, () =>
      client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          // AWS wants the region spelled out except for us-east-1.
          CreateBucketConfiguration:
            this.settings.endpoint === undefined && region !== 'us-east-1'
              ? { LocationConstraint: region as never }
              : undefined,
        }),
        { abortSignal: ctx.signal },
      ),
    ).catch((err: unknown) => {
      // Creating cannot find "no such bucket": the server read the request as something
      // else (a bucket named after the endpoint's path, or a virtual-hosted name).
      if (!notS3Answer(err) && (errorName(err) === 'NoSuchBucket' || httpStatus(err) === 404)) {
        throw new RemoteError(
          `bucket "${this.bucket}" is not at ${describeEndpoint(this.settings)} and the server did not take the request to create it as one (it answered ${errorName(err)}): ${addressingAdvice(this.settings)}`,
        );
      }
      throw err;
    });
    return 'created';
  }

  /**
   * A lean answer carries at most the server's error code (a HEAD's has no
   * body at all), so a 403 or a foreign answer does not say whether the key
   * id, the signature, the bucket or the endpoint is wrong. The SDK's
   * listing request does; its error replaces the bare one when it has one.
   */
  private async explained(err: unknown, ctx: RequestContext): Promise<unknown> {
    const bare = err instanceof S3HttpError && err.code === undefined && err.status !== 404 && err.status < 500;
    if (!bare && httpStatus(err) !== 403) return err;
    const {
      sdk: { ListObjectsV2Command },
      client,
    } = await this.full();
    try {
      await client.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }), { abortSignal: ctx.signal });
      return err;
    } catch (detailed) {
      return httpStatus(detailed) === httpStatus(err) || notS3Answer(detailed) ? detailed : err;
    }
  }

  /** Uploads a file to `objectKey`; the object becomes visible only when complete. */
  async put(objectKey: string, file: LocalPath, t: TransferContext): Promise<void> {
    const size = await fileSize(file);
    if (needsParts(size, this.settings.multipartThreshold)) {
      await this.putMultipart(objectKey, file, size, t);
      return;
    }
    // Small files in one signed PUT on the lean path (their SHA-256 is cheap); bigger ones stream through the SDK.
    if (size <= WHOLE_BODY_MAX) {
      await this.putSmall(objectKey, file, t);
      return;
    }
    const { sdk: { PutObjectCommand }, client } = await this.full();
    await this.retry('store', t, async () => {
      let sent = 0;
      await withFileBody(file, 0, size, (n) => t.progress.set((sent += n)), t.signal, (body, abortSignal) =>
        client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: objectKey,
            Body: body,
            ContentLength: size,
            StorageClass: this.settings.storageClass as never,
          }),
          { abortSignal },
        ),
      );
    });
  }

  /** A small file in one signed PUT on the lean path, read whole (it is at most WHOLE_BODY_MAX). */
  private async putSmall(objectKey: string, file: LocalPath, t: TransferContext): Promise<void> {
    const headers: Record<string, string> = this.settings.storageClass ? { 'x-amz-storage-class': this.settings.storageClass } : {};
    try {
      await this.retry('store', t, async () => {
        const body = await readFile(file);
        const res = await this.lean.request('PUT', objectKey, { headers, body, signal: t.signal, timeoutMs: BODY_TIMEOUT_MS });
        if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) throw await leanError(res, 'PUT');
        res.resume();
        t.progress.set(body.length);
      });
    } catch (err) {
      throw await this.explained(err, t);
    }
  }

  private async putMultipart(objectKey: string, file: LocalPath, size: number, t: TransferContext): Promise<void> {
    const { sdk: { UploadPartCommand }, client } = await this.full();
    const partDone: number[] = [];
    let sentTotal = 0;
    await this.multipart('upload', objectKey, size, t, async (i, { start, end }, uploadId, signal) => {
      // A retried part starts its count again.
      sentTotal -= partDone[i] ?? 0;
      partDone[i] = 0;
      const counted = (n: number): void => {
        partDone[i] = (partDone[i] ?? 0) + n;
        sentTotal += n;
        t.progress.set(sentTotal);
      };
      const res = await withFileBody(file, start, end, counted, signal, (body, abortSignal) =>
        client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: objectKey,
            UploadId: uploadId,
            PartNumber: i + 1,
            Body: body,
            ContentLength: end - start,
          }),
          { abortSignal },
        ),
      );
      return res.ETag;
    });
  }

  /**
   * One multipart upload of `size` bytes to `objectKey`: created, its parts
   * sent `concurrency` at a time by `sendPart` (which returns the part's ETag),
   * completed; aborted when anything fails, so no parts stay behind. The
   * remote's --debug trace says how long the parts and the completion took
   * (s3rver, for one, rewrites the whole object on completion).
   */
  private async multipart(
    what: 'upload' | 'copy',
    objectKey: string,
    size: number,
    ctx: RequestContext,
    sendPart: (i: number, range: { start: number; end: number }, uploadId: string, signal: AbortSignal) => Promise<string | undefined>,
  ): Promise<void> {
    const { sdk: { CreateMultipartUploadCommand, CompleteMultipartUploadCommand }, client } = await this.full();
    const plan = planParts(size, this.settings.partSize, this.settings.concurrency);
    const { partCount } = plan;
    const created = await this.retry(`start multipart ${what}`, ctx, () =>
      client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: objectKey,
          StorageClass: this.settings.storageClass as never,
        }),
        { abortSignal: ctx.signal },
      ),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new RemoteError('the S3 server returned no upload id for a multipart upload');
    void ctx.annex.debug(`multipart ${what} of ${formatSize(size)} in ${partCount} parts of ${formatSize(plan.partSize)}, ${Math.min(this.settings.concurrency, partCount)} at once`);
    const began = Date.now();

    const stop = new AbortController();
    const onAbort = (): void => stop.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const etags = new Array<string>(partCount);
    let next = 0;
    let failure: unknown;
    const partCtx: RequestContext = { annex: ctx.annex, signal: stop.signal };

    const worker = async (): Promise<void> => {
      while (next < partCount && failure === undefined) {
        const i = next++;
        try {
          const etag = await partSlots.run(() =>
            this.retry(`${what === 'upload' ? 'store' : 'copy'} part ${i + 1}/${partCount}`, partCtx, () =>
              sendPart(i, partRange(plan, size, i), uploadId, stop.signal),
            ),
          );
          if (!etag) throw new RemoteError(`the S3 server returned no ETag for part ${i + 1}`);
          etags[i] = etag;
        } catch (err) {
          failure ??= err;
          stop.abort(err);
        }
      }
    };

    try {
      await Promise.all(Array.from({ length: Math.min(this.settings.concurrency, partCount) }, worker));
      if (failure !== undefined) throw failure;
      const partsMs = Date.now() - began;
      const complete = async (): Promise<void> => {
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: objectKey,
            UploadId: uploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          }),
          { abortSignal: ctx.signal },
        );
      };
      // Once completed, the upload is gone (AWS answers NoSuchUpload, s3rver 500) and the whole object is there.
      const completed = async (): Promise<boolean> => (await this.size(objectKey, ctx)) === size;
      await this.retry(`complete multipart ${what}`, ctx, orAlreadyDone(complete, completed));
      void ctx.annex.debug(`multipart ${what}: parts took ${partsMs} ms, CompleteMultipartUpload ${Date.now() - began - partsMs} ms`);
    } catch (err) {
      await this.abortMultipart(objectKey, uploadId, ctx);
      throw err;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Best effort: parts of an abandoned upload cost storage until aborted. A part
   * still in flight when the abort arrives may land after it (S3's documentation
   * says to abort again), so a second abort follows; NoSuchUpload means clean.
   */
  private async abortMultipart(objectKey: string, uploadId: string, t: RequestContext): Promise<void> {
    const { sdk: { AbortMultipartUploadCommand }, client } = await this.full();
    for (let round = 1; round <= 2; round++) {
      try {
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }),
          { abortSignal: AbortSignal.timeout(10_000) },
        );
      } catch (err) {
        if (lacksCall(err)) {
          if (!this.toldNoAbort) {
            this.toldNoAbort = true;
            void t.annex.info(
              `the S3 server at ${describeEndpoint(this.settings)} does not implement AbortMultipartUpload (${errorName(err)}): the parts of an interrupted upload stay there; "annexd s3-uploads REMOTE" lists them`,
            );
          }
        } else if (httpStatus(err) !== 404) {
          void t.annex.debug(`could not abort multipart upload ${uploadId}: ${describeS3Error(err, 'abort', this.settings)}`);
        }
        return;
      }
      if (round === 1) await new Promise((resolve) => setTimeout(resolve, ABORT_AGAIN_AFTER_MS));
    }
  }

  /**
   * Downloads `objectKey` into `file`. An object of `size` at or above the
   * download threshold comes in parallel ranges (core/parallel-get). Else a
   * partial file from an earlier attempt is resumed with a Range request; a
   * cut connection resumes the same way.
   */
  async get(objectKey: string, file: LocalPath, t: TransferContext, size?: number): Promise<void> {
    const { sdk: { GetObjectCommand }, client } = await this.full();
    const ranged: RangeGet = async (start, end, version, signal) => {
      let res: GetObjectCommandOutput;
      try {
        res = await client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: `bytes=${start}-${end}`, IfMatch: version }),
          { abortSignal: signal },
        );
      } catch (err) {
        // 412: not the version asked for (If-Match); 416: shorter than the range, so not the object the download began with.
        if (httpStatus(err) === 412 || (httpStatus(err) === 416 && version !== undefined)) {
          throw new ObjectChangedError(`${objectKey} changed on the server during the download (HTTP ${httpStatus(err)})`, { cause: err });
        }
        throw err;
      }
      const range = parseContentRange(res.ContentRange);
      const body = res.Body as Readable;
      return range
        ? { status: 206, start: range.start, total: range.total, versions: res.ETag ? [res.ETag] : [], body }
        : { status: 200, start: 0, total: res.ContentLength, versions: res.ETag ? [res.ETag] : [], body };
    };
    if (await parallelGet(file, size, this.settings.download, ranged, (what, op) => this.retry(what, t, op), t)) return;
    // One stream, on the lean path.
    const request = async (range?: string): Promise<IncomingMessage> => {
      const res = await this.lean.request('GET', objectKey, { headers: range ? { range } : {}, signal: t.signal, timeoutMs: BODY_TIMEOUT_MS });
      if (res.statusCode === 200 || res.statusCode === 206) return res;
      throw await leanError(res, 'GET');
    };
    try {
      await this.retry('retrieve', t, async () => {
        let offset = await partialSize(file);
        t.progress.set(offset);
        let res: IncomingMessage;
        try {
          res = await request(offset > 0 ? `bytes=${offset}-` : undefined);
        } catch (err) {
          if (httpStatus(err) !== 416) throw err;
          // Nothing past our offset: either the file is already complete, or it is longer than the object.
          const total = await this.size(objectKey, t);
          if (total === offset) return;
          offset = 0;
          res = await request();
        }
        const range = res.statusCode === 206 ? parseContentRange(headerValue(res.headers, 'content-range')) : undefined;
        const start = range ? range.start : 0;
        const total = range ? range.total : contentLength(res.headers);
        let got = 0;
        await writeFrom(file, start, res, (n) => t.progress.set(start + (got += n)), t.signal);
        if (total !== undefined && start + got !== total) throw new IncompleteTransferError(total, start + got);
      });
    } catch (err) {
      throw await this.explained(err, t);
    }
  }

  /** What the bucket holds under `objectKey` (HEAD, on the lean path). */
  async stat(objectKey: string, ctx: RequestContext): Promise<Held> {
    const head = await this.head(objectKey, ctx);
    return head && { size: head.size };
  }

  /** HEAD of `objectKey` on the lean path: its size and ETag, undefined when absent. */
  private async head(objectKey: string, ctx: RequestContext): Promise<{ size: number | undefined; etag: string | undefined } | undefined> {
    try {
      return await this.retry('check presence', ctx, async () => {
        const res = await this.lean.send('HEAD', objectKey, ctx.signal);
        if (res.status === 404) return undefined;
        if (res.status < 200 || res.status >= 300) throw new S3HttpError(res.status, res.headers, 'HEAD');
        const length = res.headers['content-length'];
        const etag = res.headers.etag;
        return { size: length === undefined ? undefined : Number(length), etag: typeof etag === 'string' ? etag : undefined };
      });
    } catch (err) {
      throw await this.explained(err, ctx);
    }
  }

  /** Object size, or undefined when absent or not told. */
  async size(objectKey: string, ctx: RequestContext): Promise<number | undefined> {
    return (await this.stat(objectKey, ctx))?.size;
  }

  async exists(objectKey: string, ctx: RequestContext): Promise<boolean> {
    return (await this.stat(objectKey, ctx)) !== undefined;
  }

  /** Deletes an object; deleting an absent one succeeds (DELETE, on the lean path). */
  async delete(objectKey: string, ctx: RequestContext): Promise<void> {
    try {
      await this.retry('remove', ctx, async () => {
        const res = await this.lean.send('DELETE', objectKey, ctx.signal);
        if (res.status === 404 || (res.status >= 200 && res.status < 300)) return;
        throw new S3HttpError(res.status, res.headers, 'DELETE');
      });
    } catch (err) {
      throw await this.explained(err, ctx);
    }
  }

  /**
   * Server-side copy. One CopyObject carries at most 5 GiB, so a bigger source
   * (above `copythreshold`) is copied in parts with UploadPartCopy, each part
   * pinned to the ETag the HEAD saw: a source replaced meanwhile fails the
   * copy (412) instead of giving an object made of two versions.
   */
  async copy(fromKey: string, toKey: string, ctx: RequestContext): Promise<void> {
    const { sdk: { CopyObjectCommand, UploadPartCopyCommand }, client } = await this.full();
    const source = `${this.bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`;
    const head = await this.head(fromKey, ctx);
    if (head?.size === undefined || head.size <= this.settings.copyThreshold) {
      await this.retry('copy', ctx, () =>
        client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: toKey, CopySource: source }), {
          abortSignal: ctx.signal,
        }),
      );
      return;
    }
    try {
      await this.multipart('copy', toKey, head.size, ctx, async (i, { start, end }, uploadId, signal) => {
        const res = await client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: toKey,
            UploadId: uploadId,
            PartNumber: i + 1,
            CopySource: source,
            CopySourceRange: `bytes=${start}-${end - 1}`,
            CopySourceIfMatch: head.etag,
          }),
          { abortSignal: signal },
        );
        return res.CopyPartResult?.ETag;
      });
    } catch (err) {
      if (lacksCall(err)) {
        throw new MissingCallError(
          'UploadPartCopy',
          err,
          this.settings,
          `${fromKey} (${formatSize(head.size)}) is bigger than one CopyObject may copy (copythreshold=${formatSize(this.settings.copyThreshold)}), so it cannot be renamed on the server`,
        );
      }
      if (httpStatus(err) === 412) {
        throw new RemoteError(`${fromKey} changed on the server during the copy to ${toKey}; the copy was abandoned`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Every unfinished multipart upload under `prefix` (ListMultipartUploads,
   * followed page by page through its key and upload-id markers).
   */
  async listMultipartUploads(prefix: string, ctx: RequestContext): Promise<MultipartUploadInfo[]> {
    const { sdk: { ListMultipartUploadsCommand }, client } = await this.full();
    const uploads: MultipartUploadInfo[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.retry('list multipart uploads', ctx, () =>
        client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
          { abortSignal: ctx.signal },
        ),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key !== undefined && u.UploadId !== undefined) uploads.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated });
      }
      // A server that says "truncated" without a way on would loop forever: stop there.
      if (!page.IsTruncated || (page.NextKeyMarker === keyMarker && page.NextUploadIdMarker === uploadIdMarker) || !page.NextKeyMarker) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
    return uploads;
  }

  /**
   * What the parts of an unfinished upload add up to, and when the last one
   * arrived (ListParts, all pages); undefined when the upload is gone (completed or aborted meanwhile).
   */
  async uploadParts(objectKey: string, uploadId: string, ctx: RequestContext): Promise<UploadPartsSummary | undefined> {
    const { sdk: { ListPartsCommand }, client } = await this.full();
    const summary: UploadPartsSummary = { count: 0, bytes: 0, lastModified: undefined };
    let marker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.retry('list parts', ctx, () =>
          client.send(new ListPartsCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId, PartNumberMarker: marker }), {
            abortSignal: ctx.signal,
          }),
        );
      } catch (err) {
        if (errorName(err) === 'NoSuchUpload') return undefined;
        throw err;
      }
      for (const p of page.Parts ?? []) {
        summary.count++;
        summary.bytes += p.Size ?? 0;
        if (p.LastModified && (!summary.lastModified || p.LastModified > summary.lastModified)) summary.lastModified = p.LastModified;
      }
      if (!page.IsTruncated || !page.NextPartNumberMarker || page.NextPartNumberMarker === marker) break;
      marker = page.NextPartNumberMarker;
    }
    return summary;
  }

  /** AbortMultipartUpload of an abandoned upload: 'gone' when the server no longer has it (NoSuchUpload). */
  async abortUpload(objectKey: string, uploadId: string, ctx: RequestContext): Promise<'aborted' | 'gone'> {
    const { sdk: { AbortMultipartUploadCommand }, client } = await this.full();
    try {
      await this.retry('abort multipart upload', ctx, () =>
        client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }), { abortSignal: ctx.signal }),
      );
      return 'aborted';
    } catch (err) {
      if (errorName(err) === 'NoSuchUpload') return 'gone';
      throw err;
    }
  }

  close(): void {
    this.made?.client.destroy();
    this.lean.close();
  }
}

/** An unfinished multipart upload, as ListMultipartUploads reports it. */
export interface MultipartUploadInfo {
  key: string;
  uploadId: string;
  initiated: Date | undefined;
}

/** The parts of an unfinished upload: how many, their bytes, and when the newest arrived. */
export interface UploadPartsSummary {
  count: number;
  bytes: number;
  lastModified: Date | undefined;
}

/**
 * An S3-compatible server embedded for the demo, the tests and the benchmarks:
 * s3rver (a real HTTP S3 implementation over a directory) on 127.0.0.1, with
 * SigV4 signatures checked (s3rver itself checks only access key ids), and
 * the multipart calls s3rver lacks (listing and aborting uploads, so an
 * interrupted demo or test leaves no parts behind; copying a part from an
 * object, for renames of objects above 5 GiB) added.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import S3rver from 's3rver';
import { sigv4Verifier } from './sigv4-verifier.js';

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Resolves once no client has been connected for a moment (or after
   * `timeoutMs`): after a Ctrl-C, the remote processes git-annex left behind
   * may still be aborting their uploads here, over connections of their own.
   */
  idle(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface EmbeddedS3Options {
  directory: string;
  port?: number;
  accessKeyId?: string;
  secretAccessKey?: string;
  buckets?: string[];
  /** Appends one line per request (time, method, URL, status) to this file; for debugging. */
  requestLog?: string;
  /**
   * Multipart calls to leave to plain s3rver 3.7, which answers them with
   * NotImplemented / 405: to test clients against servers that lack them.
   */
  without?: readonly MultipartCall[];
}

/** The multipart calls the embedded server adds to s3rver. */
export const MULTIPART_CALLS = ['ListMultipartUploads', 'ListParts', 'AbortMultipartUpload', 'UploadPartCopy'] as const;
export type MultipartCall = (typeof MULTIPART_CALLS)[number];

export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  const accessKeyId = options.accessKeyId ?? 'annexd-local';
  const secretAccessKey = options.secretAccessKey ?? randomBytes(18).toString('base64url');
  // s3rver keeps its accounts in a CommonJS registry; register our key pair there.
  const require = createRequire(import.meta.url);
  const account = require('s3rver/lib/models/account.js') as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
  };
  account.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    directory: options.directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  // Koa runs middleware in array order: these go before s3rver's own.
  server.middleware.unshift(
    sigv4Verifier(new Map([[accessKeyId, secretAccessKey]])),
    multipartUploads(server.store, new Set([accessKeyId]), new Set(options.without ?? [])),
    uploadPartCopy(server.store, new Set([accessKeyId]), new Set(options.without ?? [])),
  );
  if (options.requestLog) server.middleware.unshift(requestLogger(options.requestLog));
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId,
    secretAccessKey,
    idle: async (timeoutMs) => {
      const connections = (): Promise<number> =>
        new Promise((resolve) => (server.httpServer ? server.httpServer.getConnections((err, n) => resolve(err ? 0 : n)) : resolve(0)));
      let quietSince = Date.now();
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
        if ((await connections()) > 0) quietSince = Date.now();
        else if (Date.now() - quietSince >= 300) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () => server.close(),
  };
}

/** The parts of a Koa context the multipart middleware reads and writes. */
interface MultipartContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}

/** s3rver's store: resource paths, objects and parts (typed in src/types/s3rver.d.ts). */
type UploadStore = S3rver['store'];

/** One stored upload of s3rver: its directory holds `key`, `metadata` and one file per part (`N`, `N.md5`). */
interface StoredUpload {
  key: string;
  uploadId: string;
  /** When CreateMultipartUpload wrote the upload's `key` file. */
  initiated: Date;
  storageClass: string;
}

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const OWNER = '<ID>annexd-local</ID><DisplayName>annexd-local</DisplayName>';

const xmlEscape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);

function s3Error(ctx: MultipartContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`;
}

function xmlResult(ctx: MultipartContext, body: string): void {
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}

/** The access key id a SigV4 request is signed with (header or presigned query), if any. */
function signingKeyId(ctx: MultipartContext): string | undefined {
  const auth = ctx.headers.authorization;
  const credential = typeof auth === 'string' ? /Credential=([^/,\s]+)\//.exec(auth)?.[1] : undefined;
  const presigned = ctx.query['X-Amz-Credential'];
  return credential ?? (typeof presigned === 'string' ? presigned.split('/')[0] : undefined);
}

const single = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * Reads the uploads s3rver keeps for a bucket. A directory without its `key`
 * file is not an upload (a part that landed after an abort re-creates one).
 */
async function storedUploads(store: UploadStore, bucket: string): Promise<StoredUpload[]> {
  const root = store.getResourcePath(bucket, undefined, 'uploads');
  let ids: string[];
  try {
    ids = await readdir(root);
  } catch {
    return [];
  }
  const uploads: StoredUpload[] = [];
  for (const uploadId of ids) {
    const dir = join(root, uploadId);
    try {
      const [key, info, metadata] = await Promise.all([
        readFile(join(dir, 'key'), 'utf8'),
        stat(join(dir, 'key')),
        readFile(join(dir, 'metadata'), 'utf8').then((t) => JSON.parse(t) as Record<string, string>).catch(() => ({}) as Record<string, string>),
      ]);
      uploads.push({ key, uploadId, initiated: info.mtime, storageClass: metadata['x-amz-storage-class'] ?? 'STANDARD' });
    } catch {
      // Not (or no longer) an upload.
    }
  }
  return uploads;
}

/**
 * The upload `uploadId` of `key`, or undefined: as on S3, an upload id used
 * with another key is no such upload.
 */
async function storedUpload(store: UploadStore, bucket: string, key: string, uploadId: string): Promise<{ dir: string } | undefined> {
  if (!/^[0-9a-f]+$/.test(uploadId)) return undefined;
  const dir = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const storedKey = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
  return storedKey === key ? { dir } : undefined;
}

const bySortOrder = (a: StoredUpload, b: StoredUpload): number =>
  a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime() || (a.uploadId < b.uploadId ? -1 : 1);

function boundedInt(raw: string | undefined, fallback: number, max: number): number | undefined {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) return undefined;
  return Math.min(Number(raw), max);
}

/**
 * ListMultipartUploads (GET /bucket?uploads), as AWS documents it: uploads
 * sorted by key, then by initiation time; prefix, delimiter (CommonPrefixes),
 * key-marker / upload-id-marker, max-uploads (at most 1000), encoding-type=url.
 */
async function listUploads(ctx: MultipartContext, store: UploadStore, bucket: string): Promise<void> {
  const q = (name: string): string | undefined => single(ctx.query[name]);
  const prefix = q('prefix') ?? '';
  const delimiter = q('delimiter') ?? '';
  const keyMarker = q('key-marker') ?? '';
  const uploadIdMarker = keyMarker ? (q('upload-id-marker') ?? '') : '';
  const encodingType = q('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') return s3Error(ctx, 400, 'InvalidArgument', 'Invalid Encoding Method specified in Request');
  const maxUploads = boundedInt(q('max-uploads'), 1000, 1000);
  if (maxUploads === undefined) return s3Error(ctx, 400, 'InvalidArgument', 'max-uploads must be a non-negative integer');
  const enc = (text: string): string => xmlEscape(encodingType === 'url' ? encodeURIComponent(text).replace(/%2F/g, '/') : text);

  const all = (await storedUploads(store, bucket)).filter((u) => u.key.startsWith(prefix)).sort(bySortOrder);
  // After the markers: keys past key-marker, or (with upload-id-marker) later uploads of that very key.
  let start = 0;
  if (keyMarker) {
    if (uploadIdMarker) {
      const at = all.findIndex((u) => u.key === keyMarker && u.uploadId === uploadIdMarker);
      start = at === -1 ? all.findIndex((u) => u.key > keyMarker) : at + 1;
    } else {
      start = all.findIndex((u) => u.key > keyMarker);
    }
    if (start === -1) start = all.length;
  }
  const uploads: StoredUpload[] = [];
  const prefixes: string[] = [];
  let truncated = false;
  let last: StoredUpload | undefined;
  for (const u of all.slice(start)) {
    const cut = delimiter ? u.key.indexOf(delimiter, prefix.length) : -1;
    const common = cut === -1 ? undefined : u.key.slice(0, cut + delimiter.length);
    if (common !== undefined && prefixes.includes(common)) continue;
    if (uploads.length + prefixes.length >= maxUploads) {
      truncated = true;
      break;
    }
    if (common !== undefined) prefixes.push(common);
    else uploads.push(u);
    last = u;
  }
  const next = truncated && last ? `<NextKeyMarker>${enc(last.key)}</NextKeyMarker><NextUploadIdMarker>${last.uploadId}</NextUploadIdMarker>` : '';
  xmlResult(
    ctx,
    `<ListMultipartUploadsResult xmlns="${S3_NS}"><Bucket>${xmlEscape(bucket)}</Bucket>` +
      `<KeyMarker>${enc(keyMarker)}</KeyMarker><UploadIdMarker>${xmlEscape(uploadIdMarker)}</UploadIdMarker>${next}` +
      (delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '') +
      `<Prefix>${enc(prefix)}</Prefix><MaxUploads>${maxUploads}</MaxUploads><IsTruncated>${truncated}</IsTruncated>` +
      (encodingType ? `<EncodingType>url</EncodingType>` : '') +
      uploads
        .map(
          (u) =>
            `<Upload><Key>${enc(u.key)}</Key><UploadId>${u.uploadId}</UploadId><Initiator>${OWNER}</Initiator>` +
            `<Owner>${OWNER}</Owner><StorageClass>${xmlEscape(u.storageClass)}</StorageClass><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
        )
        .join('') +
      prefixes.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join('') +
      '</ListMultipartUploadsResult>',
  );
}

/** ListParts (GET /bucket/key?uploadId=…): part-number-marker, max-parts (at most 1000). */
async function listParts(ctx: MultipartContext, dir: string, bucket: string, key: string, uploadId: string): Promise<void> {
  const marker = boundedInt(single(ctx.query['part-number-marker']), 0, 10_000);
  const maxParts = boundedInt(single(ctx.query['max-parts']), 1000, 1000);
  if (marker === undefined || maxParts === undefined) return s3Error(ctx, 400, 'InvalidArgument', 'part-number-marker and max-parts must be non-negative integers');
  // A part is stored once its .md5 is written; a part cut mid-body is not a part (S3 lists only complete ones).
  const files = new Set(await readdir(dir));
  const numbers = [...files]
    .filter((f) => /^[1-9]\d*$/.test(f) && files.has(`${f}.md5`))
    .map(Number)
    .filter((n) => n > marker)
    .sort((a, b) => a - b);
  const page = numbers.slice(0, maxParts);
  const truncated = numbers.length > page.length;
  const parts: string[] = [];
  for (const n of page) {
    const [info, md5] = await Promise.all([stat(join(dir, String(n))), readFile(join(dir, `${n}.md5`), 'utf8').catch(() => '')]);
    parts.push(`<Part><PartNumber>${n}</PartNumber><LastModified>${info.mtime.toISOString()}</LastModified><ETag>&quot;${xmlEscape(md5.trim())}&quot;</ETag><Size>${info.size}</Size></Part>`);
  }
  const nextMarker = page.length ? page[page.length - 1] : marker;
  xmlResult(
    ctx,
    `<ListPartsResult xmlns="${S3_NS}"><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId>` +
      `<Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner><StorageClass>STANDARD</StorageClass>` +
      `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${nextMarker}</NextPartNumberMarker>` +
      `<MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>${parts.join('')}</ListPartsResult>`,
  );
}

/**
 * The multipart calls s3rver 3.7 lacks, from AWS's API reference, over the
 * uploads s3rver stores (one directory per upload id): ListMultipartUploads,
 * ListParts and AbortMultipartUpload. Real S3 servers have them; annexd relies
 * on them to leave no parts of failed or abandoned uploads behind. Only
 * requests signed with a known key are served here (the verifier before this
 * has checked the signature); anything else goes on to s3rver, which rejects
 * unknown keys as before.
 */
function multipartUploads(store: UploadStore, keyIds: ReadonlySet<string>, without: ReadonlySet<MultipartCall>) {
  return async (ctx: MultipartContext, next: () => Promise<unknown>): Promise<void> => {
    const listing = ctx.method === 'GET' && 'uploads' in ctx.query;
    const uploadId = single(ctx.query.uploadId);
    const onUpload = uploadId !== undefined && (ctx.method === 'GET' || ctx.method === 'DELETE');
    const call: MultipartCall = listing ? 'ListMultipartUploads' : ctx.method === 'GET' ? 'ListParts' : 'AbortMultipartUpload';
    const keyId = signingKeyId(ctx);
    if ((!listing && !onUpload) || without.has(call) || keyId === undefined || !keyIds.has(keyId)) {
      await next();
      return;
    }
    const [, rawBucket = '', ...rawKey] = ctx.path.split('/');
    const bucket = decodeURIComponent(rawBucket);
    const key = rawKey.map(decodeURIComponent).join('/');
    if (!bucket || !existsSync(dirname(store.getResourcePath(bucket, undefined, 'uploads')))) return s3Error(ctx, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (listing && !key) return listUploads(ctx, store, bucket);
    if (!onUpload || !key) {
      await next();
      return;
    }
    const upload = await storedUpload(store, bucket, key, uploadId);
    if (!upload) {
      return s3Error(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    }
    if (ctx.method === 'GET') return listParts(ctx, upload.dir, bucket, key, uploadId);
    await rm(upload.dir, { recursive: true, force: true });
    ctx.status = 204;
  };
}

/** Whether the source's ETag and Last-Modified pass the x-amz-copy-source-if-* conditions, by AWS's rules. */
function copyConditionsHold(headers: MultipartContext['headers'], etag: string, lastModified: Date): boolean {
  const h = (name: string): string | undefined => single(headers[`x-amz-copy-source-${name}`]);
  const tags = (list: string): string[] => list.split(',').map((t) => t.trim().replace(/^"|"$/g, ''));
  const bare = etag.replace(/^"|"$/g, '');
  const since = (raw: string | undefined): number | undefined => (raw === undefined || Number.isNaN(Date.parse(raw)) ? undefined : Date.parse(raw));
  const ifMatch = h('if-match');
  const ifNoneMatch = h('if-none-match');
  const unmodifiedSince = since(h('if-unmodified-since'));
  const modifiedSince = since(h('if-modified-since'));
  // HTTP dates have whole seconds.
  const modified = Math.floor(lastModified.getTime() / 1000) * 1000;
  if (ifMatch !== undefined && !tags(ifMatch).some((t) => t === '*' || t === bare)) return false;
  // A matching If-Match overrides If-Unmodified-Since; a failing If-None-Match overrides If-Modified-Since.
  if (ifMatch === undefined && unmodifiedSince !== undefined && modified > unmodifiedSince) return false;
  if (ifNoneMatch !== undefined && tags(ifNoneMatch).some((t) => t === '*' || t === bare)) return false;
  if (ifNoneMatch === undefined && modifiedSince !== undefined && modified <= modifiedSince) return false;
  return true;
}

/**
 * UploadPartCopy (PUT /bucket/key?partNumber=N&uploadId=… with x-amz-copy-source),
 * from AWS's API reference: the part is bytes of an existing object, the whole
 * object or the x-amz-copy-source-range "bytes=first-last" (inclusive, within the
 * object), under the x-amz-copy-source-if-* conditions (412 when one fails); the
 * answer is a CopyPartResult with the part's ETag. s3rver 3.7 answers
 * NotImplemented. The part is written by s3rver's own part store, so listing,
 * completing and aborting treat it as any uploaded part.
 */
function uploadPartCopy(store: UploadStore, keyIds: ReadonlySet<string>, without: ReadonlySet<MultipartCall>) {
  return async (ctx: MultipartContext, next: () => Promise<unknown>): Promise<void> => {
    const copySource = single(ctx.headers['x-amz-copy-source']);
    const uploadId = single(ctx.query.uploadId);
    const keyId = signingKeyId(ctx);
    if (ctx.method !== 'PUT' || copySource === undefined || uploadId === undefined || without.has('UploadPartCopy') || keyId === undefined || !keyIds.has(keyId)) {
      await next();
      return;
    }
    const [, rawBucket = '', ...rawKey] = ctx.path.split('/');
    const bucket = decodeURIComponent(rawBucket);
    const key = rawKey.map(decodeURIComponent).join('/');
    const partText = single(ctx.query.partNumber) ?? '';
    const partNumber = /^\d+$/.test(partText) ? Number(partText) : NaN;
    if (!(partNumber >= 1 && partNumber <= 10_000)) return s3Error(ctx, 400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    if (!bucket || !existsSync(dirname(store.getResourcePath(bucket, undefined, 'uploads')))) return s3Error(ctx, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    const upload = key ? await storedUpload(store, bucket, key, uploadId) : undefined;
    if (!upload) {
      return s3Error(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    }
    // "bucket/key" or "/bucket/key", URL-encoded; a versionId names a version, which s3rver does not keep.
    let decoded: string;
    try {
      decoded = decodeURIComponent(copySource.replace(/^\//, ''));
    } catch {
      return s3Error(ctx, 400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
    }
    const [sourcePath = '', query = ''] = decoded.split('?', 2);
    if (/(^|&)versionId=/.test(query)) return s3Error(ctx, 501, 'NotImplemented', 'Copying a version of an object is not implemented by this server');
    const slash = sourcePath.indexOf('/');
    if (slash <= 0 || slash === sourcePath.length - 1) return s3Error(ctx, 400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
    const sourceBucket = sourcePath.slice(0, slash);
    const sourceKey = sourcePath.slice(slash + 1);
    if (!existsSync(dirname(store.getResourcePath(sourceBucket, undefined, 'uploads')))) return s3Error(ctx, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    const whole = await store.getObject(sourceBucket, sourceKey);
    if (!whole) return s3Error(ctx, 404, 'NoSuchKey', 'The specified key does not exist.');
    whole.content?.destroy();
    const size = Number(whole.metadata['content-length']);
    const etag = String(whole.metadata.etag ?? '');
    const lastModified = new Date(String(whole.metadata['last-modified']));
    if (!copyConditionsHold(ctx.headers, etag, lastModified)) return s3Error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');

    const rangeText = single(ctx.headers['x-amz-copy-source-range']);
    let range = { start: 0, end: size - 1 };
    if (rangeText !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(rangeText);
      if (!m || Number(m[1]) > Number(m[2])) {
        return s3Error(ctx, 400, 'InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy');
      }
      range = { start: Number(m[1]), end: Number(m[2]) };
      if (range.end >= size) return s3Error(ctx, 400, 'InvalidRange', `Range specified is not valid for source object of size: ${size}`);
    }
    if (range.end - range.start + 1 > 5 * 1024 ** 3) return s3Error(ctx, 400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.');
    // Read from s3rver's object file directly: its ranged getObject reads a range ending at byte 0 as the whole object.
    const content = size === 0 ? Readable.from([]) : createReadStream(store.getResourcePath(sourceBucket, sourceKey, 'object'), range);
    const { md5 } = await store.putPart(bucket, uploadId, partNumber, content);
    xmlResult(ctx, `<CopyPartResult xmlns="${S3_NS}"><LastModified>${new Date().toISOString()}</LastModified><ETag>&quot;${md5}&quot;</ETag></CopyPartResult>`);
  };
}

function requestLogger(file: string) {
  return async (ctx: { method: string; url: string; status: number }, next: () => Promise<unknown>): Promise<void> => {
    const start = new Date().toISOString();
    try {
      await next();
    } finally {
      await appendFile(file, `${start} ${ctx.method} ${ctx.url} ${ctx.status}\n`).catch(() => undefined);
    }
  };
}

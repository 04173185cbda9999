/**
 * Unfinished multipart uploads under an annexd-s3 remote's prefix: parts of
 * uploads that were never completed nor aborted (a SIGKILL, a crash, a server
 * that lacked AbortMultipartUpload at the time). They cost storage and are
 * never objects. An upload counts as abandoned once it has been idle (no part
 * arrived, else not started) for longer than a safe age, so uploads still in
 * progress are never aborted.
 */
import type { RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import { readRemoteConfig } from '../core/backend.js';
import { s3Settings, type S3Settings } from './config.js';
import { connectS3, s3Definition } from './index.js';
import { describeS3Error, errorName, lacksCall, MissingCallError } from './errors.js';
import type { S3Store } from './store.js';

/** The default idle age after which an upload counts as abandoned: a day. */
export const DEFAULT_ABANDONED_AFTER_MS = 24 * 60 * 60 * 1000;

export interface UnfinishedUpload {
  /** The object name the upload was for (with the remote's prefix). */
  key: string;
  uploadId: string;
  initiated: Date | undefined;
  /** The newest part's arrival, else the start; undefined when the server tells neither. */
  lastActivity: Date | undefined;
  /** Idle time in ms at the survey; undefined when unknown (then never abandoned). */
  idleMs: number | undefined;
  /** Parts and their bytes, when the server lists parts. */
  parts: number | undefined;
  bytes: number | undefined;
  abandoned: boolean;
}

/** The remote's validated settings and a client with the credentials the remote itself would use (the shared chain). */
export async function openS3Remote(ctx: RequestContext): Promise<{ settings: S3Settings; store: S3Store }> {
  const settings = s3Settings((await readRemoteConfig(s3Definition, ctx, 'prepare')).cfg);
  return { settings, store: await connectS3(settings, ctx) };
}

/** Every unfinished upload under the remote's prefix, with its idle time, oldest activity first. */
export async function surveyUploads(
  store: S3Store,
  ctx: RequestContext,
  options: { olderThanMs: number; now?: Date },
): Promise<UnfinishedUpload[]> {
  const s = store.settings;
  const now = (options.now ?? new Date()).getTime();
  let listed;
  try {
    listed = await store.listMultipartUploads(s.prefix, ctx);
  } catch (err) {
    if (lacksCall(err)) {
      throw new MissingCallError(
        'ListMultipartUploads',
        err,
        s,
        'annexd cannot find abandoned uploads there; remove leftover parts with the server\'s own tools, or use a server that has the call (AWS, MinIO, Ceph)',
      );
    }
    throw new RemoteError(describeS3Error(err, 'list multipart uploads', s), { cause: err });
  }
  let partsListed = true;
  const uploads: UnfinishedUpload[] = [];
  for (const u of listed) {
    let parts;
    if (partsListed) {
      try {
        parts = await store.uploadParts(u.key, u.uploadId, ctx);
        // Completed or aborted since the listing: nothing left to report.
        if (parts === undefined) continue;
      } catch (err) {
        if (!lacksCall(err)) throw new RemoteError(describeS3Error(err, 'list parts', s), { cause: err });
        partsListed = false;
        await ctx.annex.info(`the S3 server does not implement ListParts (${errorName(err)}): idle times count from each upload's start`);
      }
    }
    const times = [u.initiated, parts?.lastModified].filter((d): d is Date => d !== undefined).map((d) => d.getTime());
    const lastActivity = times.length ? new Date(Math.max(...times)) : undefined;
    const idleMs = lastActivity ? Math.max(0, now - lastActivity.getTime()) : undefined;
    uploads.push({
      key: u.key,
      uploadId: u.uploadId,
      initiated: u.initiated,
      lastActivity,
      idleMs,
      parts: parts?.count,
      bytes: parts?.bytes,
      abandoned: idleMs !== undefined && idleMs > options.olderThanMs,
    });
  }
  return uploads.sort((a, b) => (a.lastActivity?.getTime() ?? Infinity) - (b.lastActivity?.getTime() ?? Infinity));
}

/**
 * Aborts one abandoned upload: 'gone' when it no longer exists. A server
 * without AbortMultipartUpload is a MissingCallError (callers stop
 * at the first: the answer will not change for the next upload).
 */
export async function abortAbandoned(store: S3Store, upload: UnfinishedUpload, ctx: RequestContext): Promise<'aborted' | 'gone'> {
  try {
    return await store.abortUpload(upload.key, upload.uploadId, ctx);
  } catch (err) {
    if (lacksCall(err)) {
      throw new MissingCallError(
        'AbortMultipartUpload',
        err,
        store.settings,
        'the uploads stay on the server; remove their parts with the server\'s own tools, or use a server that has the call (AWS, MinIO, Ceph)',
      );
    }
    throw new RemoteError(describeS3Error(err, 'abort multipart upload', store.settings), { cause: err });
  }
}

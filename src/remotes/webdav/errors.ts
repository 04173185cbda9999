/**
 * What a WebDAV failure means for the user, and whether trying again can help.
 * Errors are HTTP answers (HttpStatusError), network failures (Node and undici
 * error codes) or local file system errors.
 */
import { messageOf } from '../../protocol/errors.js';
import { isRetryableNetworkError, networkProblem } from '../core/net-errors.js';
import { HttpStatusError } from '../core/http-error.js';
import type { Verdict } from '../core/retry.js';
import type { WebdavSettings } from './config.js';

/** The URL answers, but not as a WebDAV server (PROPFIND refused, ignored or misunderstood). */
export class NotWebdavError extends Error {
  override readonly name = 'NotWebdavError';
  constructor(
    readonly url: string,
    /** How the answer showed it, e.g. "PROPFIND not allowed: HTTP 405". */
    readonly reason: string,
  ) {
    super(`the server at ${url} is not a WebDAV server (${reason})`);
  }
}

/** Whether a percent-encoded path decodes to valid UTF-8 (an export name of other bytes does not). */
export function isUtf8Path(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The server refuses a name that is not valid UTF-8 (lighttpd's mod_webdav
 * answers 400 or 404): a verdict on the name, not on the server.
 */
export class NameRefusedError extends Error {
  override readonly name = 'NameRefusedError';
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(
      `the server refuses the name ${url} (HTTP ${status}): it does not take file names that are not valid UTF-8; rename the file to UTF-8, or use a WebDAV server that stores any bytes (Apache mod_dav, rclone)`,
    );
  }
}

/** An S3 server's error document: <Error><Code>NoSuchBucket</Code>…<Message>…</Message>. */
function s3ErrorCode(body: string): string | undefined {
  if (!/<Error>/.test(body)) return undefined;
  return /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1];
}

/**
 * Why an answer to PROPFIND shows that the server is not a WebDAV server, or
 * undefined when it may be one (207 with a multistatus, 404, 401, 5xx, …): a
 * WebDAV server never ignores PROPFIND (2xx other than 207), refuses it
 * (405, 501) or calls a well-formed one a bad request (400); an S3 server
 * answers it with its XML error document.
 */
export function notWebdavReason(status: number, body: string): string | undefined {
  const s3 = s3ErrorCode(body);
  if (s3 !== undefined) return `it answers PROPFIND like an S3 server: HTTP ${status} ${s3}; for S3 use externaltype=annexd-s3`;
  if (status === 207) return /<(?:[\w-]+:)?multistatus\b/i.test(body) ? undefined : 'it answered PROPFIND with HTTP 207 but no WebDAV multistatus';
  if (status === 405 || status === 501) return `PROPFIND not allowed: HTTP ${status}`;
  if (status >= 200 && status < 300) return `it answered PROPFIND like a GET: HTTP ${status}`;
  if (status === 400) return 'it called PROPFIND a bad request: HTTP 400';
  return undefined;
}

export function classifyDavError(err: unknown): Verdict {
  if (isRetryableNetworkError(err)) return { retry: true };
  return err instanceof HttpStatusError ? err.verdict() : { retry: false };
}

const CREDENTIAL_FIX =
  'set WEBDAV_USERNAME and WEBDAV_PASSWORD (remembered at initremote), or store them with "annexd credentials set NAME user=USER" and add credential=NAME to the remote';

function describeHttp(err: HttpStatusError, operation: string, s: WebdavSettings): string {
  const { status, url } = err;
  if (status === 401) {
    return err.credentialSource
      ? `${operation} failed: ${s.url} refused the credentials from ${err.credentialSource} (HTTP 401): check the user name and password; ${CREDENTIAL_FIX}`
      : `${operation} failed: ${s.url} needs credentials (HTTP 401): ${CREDENTIAL_FIX}`;
  }
  if (status === 403) {
    return `${operation} refused (HTTP 403) by ${url}: the ${err.credentialSource ? 'user' : 'anonymous user'} may not ${err.method} there; check the permissions on the server`;
  }
  if (status >= 300 && status < 400) {
    const to = err.header('location');
    return `${operation} failed: ${url} redirects (HTTP ${status})${to ? ` to ${to}` : ''}; set url= to the address the server redirects to`;
  }
  if (status === 404) return `${operation} failed: ${url} does not exist on the server (HTTP 404)`;
  if (status === 423) {
    return `${operation} failed: ${url} is locked on the server (HTTP 423), by another client or an upload still in progress; try again later`;
  }
  if (status === 507) return `${operation} failed: the server at ${s.url} is out of space (HTTP 507)`;
  if (status === 413) return `${operation} failed: the server at ${s.url} refuses files this large (HTTP 413)`;
  return `${operation} failed: the server answered ${err.method} ${url} with HTTP ${status}`;
}

/** One line naming the cause and, where we know it, the fix. */
export function describeDavError(err: unknown, operation: string, s: WebdavSettings): string {
  const net = networkProblem(err, s.url);
  if (net) return `${operation} failed: ${net}`;
  if (err instanceof NotWebdavError) return `${operation} failed: ${err.message}; check url=`;
  if (err instanceof NameRefusedError) return `${operation} failed: ${err.message}`;
  if (err instanceof HttpStatusError) return describeHttp(err, operation, s);
  const fs = err as NodeJS.ErrnoException | undefined;
  if (fs?.code === 'ENOENT' && fs.path !== undefined) return `${operation} failed: local file not found: ${fs.path}`;
  return `${operation} failed: ${messageOf(err)}`;
}

/**
 * What an S3 failure means for the user, and whether trying again can help.
 * Errors come from the AWS SDK (service errors with a name and HTTP status),
 * from the network (Node error codes) or from the local file system.
 */
import { messageOf, RemoteError } from '../../protocol/errors.js';
import { httpStatusVerdict } from '../core/http-status.js';
import { parseRetryAfter, type Verdict } from '../core/retry.js';
import { networkProblem, isRetryableNetworkError } from '../core/net-errors.js';
import type { S3Settings } from './config.js';
import { describeEndpoint } from './config.js';

interface ServiceErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
  $retryable?: unknown;
}

function shape(err: unknown): ServiceErrorShape {
  return typeof err === 'object' && err !== null ? (err as ServiceErrorShape) : {};
}

export function httpStatus(err: unknown): number | undefined {
  return shape(err).$metadata?.httpStatusCode;
}

export function errorName(err: unknown): string {
  const e = shape(err);
  return e.Code ?? e.name ?? 'Error';
}

const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TooManyRequests',
]);

export function classifyS3Error(err: unknown): Verdict {
  if (isRetryableNetworkError(err)) return { retry: true };
  const status = httpStatus(err);
  const retryAfter = shape(err).$response?.headers?.['retry-after'];
  if (status !== undefined) {
    const verdict = httpStatusVerdict(status, retryAfter);
    if (verdict.retry) return verdict;
  }
  // S3 names passing trouble also in error codes (e.g. SlowDown on a 4xx from some stores).
  if (RETRYABLE_NAMES.has(errorName(err))) return { retry: true, retryAfterMs: parseRetryAfter(retryAfter) };
  return { retry: false };
}

/** The SDK's parse failures end in a multi-line hint for programmers; a user needs neither. */
function plainSdkMessage(message: string): string {
  return message.replace(/\s*Deserialization error:[\s\S]*$/, '').replace(/\s+/g, ' ').trim();
}

/** An answer that is not S3's: an HTML page, or a body the SDK could not read as S3 XML. */
export function notS3Answer(err: unknown): 'html' | 'unreadable' | undefined {
  const e = shape(err);
  if (RETRYABLE_NAMES.has(errorName(err))) return undefined;
  const type = e.$response?.headers?.['content-type'] ?? '';
  const unparsable = /XML parse error|Deserialization error|is not expected|Unexpected end of/i.test(e.message ?? '');
  if (/text\/html/i.test(type) && (unparsable || e.message === 'UnknownError')) return 'html';
  return unparsable ? 'unreadable' : undefined;
}

/** The endpoint's path, when it has one: the usual reason a real S3 server misreads every request. */
function endpointPath(s: S3Settings): string | undefined {
  if (!s.endpoint) return undefined;
  const path = new URL(s.endpoint).pathname.replace(/\/+$/, '');
  return path || undefined;
}

/** What to check when a server takes our requests for something else. */
export function addressingAdvice(s: S3Settings): string {
  const path = endpointPath(s);
  return path
    ? `endpoint= has the path ${path}: most S3 servers answer at the root (e.g. ${new URL(s.endpoint as string).origin}); drop the path unless the server is served under it`
    : `check that endpoint= is the server's S3 address and that it supports path-style requests${s.pathStyle ? ' (else set pathstyle=no)' : ' (else set pathstyle=yes)'}`;
}

/** NotImplemented (501) or MethodNotAllowed (405): the server lacks the call, as s3rver 3.7 does. */
export function lacksCall(err: unknown): boolean {
  const status = httpStatus(err);
  return status === 501 || status === 405 || errorName(err) === 'NotImplemented' || errorName(err) === 'MethodNotAllowed';
}

/** A call the server does not implement; the message names the call, the server's answer and what follows. */
export class MissingCallError extends RemoteError {
  constructor(
    readonly call: string,
    err: unknown,
    s: S3Settings,
    consequence: string,
  ) {
    const status = httpStatus(err);
    super(
      `the S3 server at ${describeEndpoint(s)} does not implement ${call} (${errorName(err)}${status ? `, HTTP ${status}` : ''}): ${consequence}`,
      { cause: err },
    );
  }
}

/** One line naming the cause and, where we know it, the fix. */
export function describeS3Error(err: unknown, operation: string, s: S3Settings): string {
  const net = networkProblem(err, describeEndpoint(s));
  if (net) return `${operation} failed: ${net}`;
  const foreign = notS3Answer(err);
  if (foreign) {
    const status = httpStatus(err);
    const what = foreign === 'html' ? 'an HTML page' : 'something that is not S3 XML';
    return `${operation} failed: ${describeEndpoint(s)} does not look like an S3 server: it answered${status ? ` HTTP ${status} with` : ''} ${what}; check endpoint= (the URL of the S3 API, e.g. http://host:9000)`;
  }
  const e = shape(err);
  const fsCode = (err as NodeJS.ErrnoException | undefined)?.code;
  if (fsCode === 'ENOENT' && (err as NodeJS.ErrnoException).path !== undefined) {
    return `${operation} failed: local file not found: ${(err as NodeJS.ErrnoException).path}`;
  }
  const name = errorName(err);
  const status = httpStatus(err);
  const where = `bucket "${s.bucket}" at ${describeEndpoint(s)}`;
  switch (name) {
    case 'NoSuchBucket':
      return s.createBucket
        ? `${where} does not exist: if it was deleted, "git annex enableremote REMOTE" creates it again; if it was never there, ${addressingAdvice(s)}`
        : `${where} does not exist: create it, or enable the remote with createbucket=yes ("git annex enableremote REMOTE createbucket=yes")`;
    case 'InvalidAccessKeyId':
      return `the S3 server does not know this access key id: check AWS_ACCESS_KEY_ID (or the stored credentials) for ${where}`;
    case 'SignatureDoesNotMatch':
      return `the S3 secret key does not match the access key id: check AWS_SECRET_ACCESS_KEY for ${where}`;
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return `${operation} refused: access denied to ${where}; check the credentials and their permissions`;
    case 'ExpiredToken':
    case 'InvalidToken':
      return `the S3 session token is invalid or expired: refresh AWS_SESSION_TOKEN for ${where}`;
    case 'InvalidBucketName':
      return `"${s.bucket}" is not a valid bucket name (3-63 lowercase letters, digits, dots and hyphens)`;
    default:
      break;
  }
  if (status === 403) return `${operation} refused (HTTP 403) by ${where}: check the credentials and their permissions`;
  if (status === 301 || name === 'PermanentRedirect') {
    return `${where} is in another region: set region= to the bucket's region`;
  }
  const detail = e.message && e.message !== name && e.message !== 'UnknownError' ? `: ${plainSdkMessage(e.message)}` : '';
  const code = status ? ` (HTTP ${status})` : '';
  return `${operation} failed on ${where}: ${name}${code}${detail || (status ? '' : `: ${messageOf(err)}`)}`;
}

/**
 * What an OSF failure means for the user, and whether trying again can help.
 * Errors are HTTP answers (OsfHttpError, with OSF's own detail text), network
 * failures, the ones below, or local file system errors.
 */
import { messageOf } from '../../protocol/errors.js';
import { HttpStatusError } from '../core/http-error.js';
import type { Headers } from '../core/http-headers.js';
import { isRetryableNetworkError, networkProblem } from '../core/net-errors.js';
import type { Verdict } from '../core/retry.js';
import { formatSize } from '../core/sizes.js';
import type { OsfSettings } from './config.js';
import { tokenHelp } from './credentials.js';

/** An answer other than the expected one, with the server's explanation (JSON:API errors[].detail, or WaterButler's message). */
export class OsfHttpError extends HttpStatusError {
  constructor(
    method: string,
    url: string,
    status: number,
    headers: Headers,
    credentialSource: string | undefined,
    readonly detail: string | undefined,
    /** Which server answered: the API, or WaterButler (file operations). */
    readonly host: 'api' | 'files',
    /** What was sent: a token, or a user name and password. */
    readonly sent: 'token' | 'password' | undefined = undefined,
  ) {
    super(method, url, status, headers, credentialSource);
  }
}

/** The api= URL answers, but not as the OSF API v2 does. */
export class NotOsfError extends Error {
  override readonly name = 'NotOsfError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** node= names nothing on this OSF (404), or a deleted node (410). */
export class NodeMissingError extends Error {
  override readonly name = 'NodeMissingError';
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** A file over OSF's per-file cap, refused before a byte is sent. */
export class TooLargeError extends Error {
  override readonly name = 'TooLargeError';
  constructor(
    readonly size: number,
    readonly cap: number,
  ) {
    super(`${formatSize(size)} is over OSF's per-file limit of ${formatSize(cap)}`);
  }
}

/** The server kept something other than what was sent (size or md5 differ). */
export class VerifyError extends Error {
  override readonly name = 'VerifyError';
}

export function classifyOsfError(err: unknown): Verdict {
  if (err instanceof VerifyError) return { retry: true };
  if (isRetryableNetworkError(err)) return { retry: true };
  if (!(err instanceof HttpStatusError)) return { retry: false };
  return err.verdict();
}

function describeHttp(err: OsfHttpError, operation: string, s: OsfSettings): string {
  const { status } = err;
  const said = err.detail ? `: ${err.detail}` : '';
  const credentialed = err.credentialSource !== undefined;
  // WaterButler answers 403 where the API answers 401 (it relays OSF's permission check).
  if (status === 401 || (status === 403 && !credentialed)) {
    return credentialed
      ? err.sent === 'password'
        ? `${operation} failed: OSF refused the user name and password from ${err.credentialSource} (HTTP ${status}${said}): check them (accounts with two-factor authentication need a token); or ${tokenHelp(s)}`
        : `${operation} failed: OSF refused the token from ${err.credentialSource} (HTTP ${status}${said}): it is wrong, expired or revoked; ${tokenHelp(s)}`
      : `${operation} failed: OSF needs a token for node ${s.node} (HTTP ${status}): ${tokenHelp(s)}`;
  }
  if (status === 403) {
    return `${operation} refused by OSF (HTTP 403${said}): the token from ${err.credentialSource} may not write to node ${s.node}; ask for write access to the project, or use a token with the osf.full_write scope`;
  }
  if (status === 507) {
    return `${operation} failed: the OSF storage quota of node ${s.node} is used up (HTTP 507${said}): OSF allows 5 GB per private and 50 GB per public project; free space or make the project public`;
  }
  if (status === 413) return `${operation} failed: OSF refuses files this large (HTTP 413${said}); set the remote up with chunk=, e.g. git annex enableremote REMOTE chunk=1GiB`;
  if (status === 429) return `${operation} failed: OSF kept refusing requests as too many (HTTP 429${said}); lower requestrate= or try again later`;
  return `${operation} failed: OSF answered ${err.method} ${err.url} with HTTP ${status}${said}`;
}

/** One line naming the cause and, where we know it, the fix. */
export function describeOsfError(err: unknown, operation: string, s: OsfSettings): string {
  const net = networkProblem(err, s.api);
  if (net) return `${operation} failed: ${net}`;
  if (err instanceof NotOsfError) return `${operation} failed: ${s.api} does not look like the OSF API v2 (${err.reason}); check api=, e.g. api=https://api.osf.io/v2/`;
  if (err instanceof NodeMissingError) {
    return err.status === 410
      ? `${operation} failed: OSF node ${s.node} was deleted (HTTP 410): check node=, or create a new project`
      : `${operation} failed: OSF has no node ${s.node} at ${s.api} (HTTP 404): check node= (the id in https://osf.io/ID/)`;
  }
  if (err instanceof TooLargeError) {
    return `${operation} refused: ${err.message}; nothing was sent: store such files in chunks, e.g. git annex enableremote REMOTE chunk=1GiB`;
  }
  if (err instanceof VerifyError) return `${operation} failed: ${err.message}`;
  if (err instanceof OsfHttpError) return describeHttp(err, operation, s);
  const fs = err as NodeJS.ErrnoException | undefined;
  if (fs?.code === 'ENOENT' && fs.path !== undefined) return `${operation} failed: local file not found: ${fs.path}`;
  return `${operation} failed: ${messageOf(err)}`;
}

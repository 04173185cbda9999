/**
 * What an HTTP source's failure means for the user, and whether trying again
 * can help. Every message names the URL and, where we know it, the fix.
 */
import { messageOf } from '../../protocol/errors.js';
import { HttpStatusError } from '../core/http-error.js';
import { isRetryableNetworkError, networkProblem } from '../core/net-errors.js';
import type { Verdict } from '../core/retry.js';

/** Redirects that come back to a URL already visited. */
export class RedirectLoopError extends Error {
  override readonly name = 'RedirectLoopError';
  constructor(readonly chain: string[]) {
    super(`redirect loop: ${chain.join(' -> ')}`);
  }
}

/** Redirects that do not end, or lead somewhere we cannot follow. */
export class RedirectError extends Error {
  override readonly name = 'RedirectError';
}

/** The server's file is not the size the key says: it changed since it was added (or the server lies). */
export class SizeMismatchError extends Error {
  override readonly name = 'SizeMismatchError';
  constructor(
    readonly url: string,
    readonly serverSize: number,
    readonly keySize: number,
  ) {
    super(
      `${url} has ${serverSize} bytes but the key is ${keySize} bytes: the file on the server is not the content that was added (it changed, or the server reports a wrong size)`,
    );
  }
}

export function classifyHttpError(err: unknown): Verdict {
  if (isRetryableNetworkError(err)) return { retry: true };
  if (err instanceof HttpStatusError) return err.verdict();
  return { retry: false };
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/** "Basic realm=\"data\"" → 'Basic realm "data"', for telling the user what the server asks for. */
function challenge(err: HttpStatusError): string {
  const v = err.header('www-authenticate');
  if (!v) return '';
  const scheme = /^\s*(\w+)/.exec(v)?.[1] ?? '';
  const realm = /realm="([^"]*)"/i.exec(v)?.[1];
  return `, it asks for ${scheme}${realm ? ` realm "${realm}"` : ''} authentication`;
}

function describeStatus(err: HttpStatusError, operation: string): string {
  const { status, url } = err;
  const host = hostOf(url);
  if (status === 401) {
    const fix = `store a credential for the host: "annexd credentials set NAME user=USER realm=${host}" (password from the prompt or stdin), or "annexd credentials set NAME realm=${host}" for a Bearer token`;
    return err.credentialSource
      ? `${operation} failed: ${url} refused the credentials from ${err.credentialSource} (HTTP 401${challenge(err)}): check them; ${fix}`
      : `${operation} failed: ${url} needs credentials (HTTP 401${challenge(err)}): ${fix}`;
  }
  if (status === 403) return `${operation} refused (HTTP 403) by ${url}: the ${err.credentialSource ? 'user' : 'anonymous user'} may not read it`;
  if (status === 404 || status === 410) return `${operation} failed: ${url} does not exist on the server (HTTP ${status})`;
  if (status >= 300 && status < 400) return `${operation} failed: ${url} answered HTTP ${status} without a Location to follow`;
  if (status === 429) return `${operation} failed: ${url} kept answering "too many requests" (HTTP 429); try again later or with fewer jobs (-J)`;
  return `${operation} failed: the server answered ${err.method} ${url} with HTTP ${status}`;
}

/** One line naming the cause and, where we know it, the fix. */
export function describeHttpError(err: unknown, operation: string, url?: string): string {
  const net = networkProblem(err, url ?? 'the server');
  if (net) return `${operation} failed: ${net}`;
  if (err instanceof HttpStatusError) return describeStatus(err, operation);
  if (err instanceof RedirectLoopError) return `${operation} failed: the server sends ${err.message}`;
  const fs = err as NodeJS.ErrnoException | undefined;
  if (fs?.code === 'ENOENT' && fs.path !== undefined) return `${operation} failed: local file not found: ${fs.path}`;
  return `${operation} failed: ${messageOf(err)}`;
}

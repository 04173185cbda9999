/**
 * An HTTP answer other than the ones an operation expects, as every HTTP
 * backend reports it: what was asked, what came back, and whether a
 * credential was sent (never the credential itself).
 */
import { headerValue, type Headers } from './http-headers.js';
import { httpStatusVerdict } from './http-status.js';
import type { Verdict } from './retry.js';

export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly method: string,
    /** The URL asked; never contains credentials. */
    readonly url: string,
    readonly status: number,
    readonly headers: Headers,
    /** Where the credential sent came from; undefined when the request was anonymous. */
    readonly credentialSource: string | undefined,
  ) {
    super(`${method} ${url}: HTTP ${status}`);
  }

  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  /** Whether another attempt can help (Retry-After included). */
  verdict(): Verdict {
    return httpStatusVerdict(this.status, this.header('retry-after'));
  }
}

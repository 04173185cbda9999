/**
 * An HTTP answer other than the ones an operation expects, as every HTTP
 * backend reports it: what was asked, what came back, and whether a
 * credential was sent (never the credential itself).
 */
import { httpStatusVerdict } from './http-status.js';
import type { Verdict } from './retry.js';

export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly method: string,
    /** The URL asked; never contains credentials. */
    readonly url: string,
    readonly status: number,
    readonly headers: Record<string, string | string[] | undefined>,
    /** Where the credential sent came from; undefined when the request was anonymous. */
    readonly credentialSource: string | undefined,
  ) {
    super(`${method} ${url}: HTTP ${status}`);
  }

  header(name: string): string | undefined {
    const v = this.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  /** Whether another attempt can help (Retry-After included). */
  verdict(): Verdict {
    return httpStatusVerdict(this.status, this.header('retry-after'));
  }
}

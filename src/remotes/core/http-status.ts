/**
 * Whether an HTTP answer is passing trouble worth another attempt: the one
 * rule every HTTP backend (WebDAV, HTTP, and S3's own classifier) follows.
 */
import { parseRetryAfter, type Verdict } from './retry.js';

export function httpStatusVerdict(status: number, retryAfter: string | undefined): Verdict {
  if (status === 429 || status === 503) return { retry: true, retryAfterMs: parseRetryAfter(retryAfter) };
  // 501 Not Implemented and 505 are answers about the request, not passing trouble;
  // 507 Insufficient Storage (a full quota or disk) stays full however often it is asked.
  if (status >= 500 && status !== 501 && status !== 505 && status !== 507) return { retry: true };
  // 408 Request Timeout: the server gave up waiting for us; a new attempt can work.
  if (status === 408) return { retry: true };
  return { retry: false };
}

/**
 * HTTP for web sources, on Node's own http/https clients with keep-alive
 * agents shared by every ASYNC job. Not undici: undici 7 (the last line that
 * runs on Node 20) can crash the process with an uncatchable assertion when a
 * server closes a "Connection: close" response while the body is paused by
 * backpressure (nodejs/undici#5360, fixed only in undici 8), which is exactly
 * what a download to a slower disk from an HTTP/1.0 server does.
 * Redirects are followed here so that loops are named, credentials stay
 * with their host, and each hop is checked.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { RequestContext } from '../../protocol/contract.js';
import type { HostAuth, HostCredentials } from './auth.js';
import { HttpStatusError } from '../core/http-error.js';
import { headerValue } from '../core/http-headers.js';
import { RedirectError, RedirectLoopError } from './errors.js';

/** Hops followed before giving up (browsers and curl allow more; real chains are short). */
export const MAX_REDIRECTS = 10;

/** No byte from the server for this long fails the request (and it is retried). */
const IDLE_TIMEOUT_MS = 60_000;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NO_AUTH: HostAuth = { header: undefined, credential: undefined };

/** An answer: status, headers, and the body to consume or dump. */
export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

export interface Opened {
  res: HttpResponse;
  /** The URL that answered, after redirects. */
  url: string;
  /** Where the credential sent to that URL came from; undefined when anonymous. */
  credentialSource: string | undefined;
}

/**
 * Reads and discards a body, so its connection can be reused; never throws.
 * Even a body already complete (a HEAD answer) must be read to its end: until
 * then the agent does not get the socket back, and with every socket held the
 * next request waits for the server to drop an idle connection.
 */
export function dump(res: HttpResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.body.readableEnded || res.body.destroyed) return resolve();
    res.body.once('end', resolve).once('error', () => resolve()).once('close', resolve);
    res.body.resume();
  });
}

export class HttpClient {
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 16 }),
  };

  constructor(private readonly credentials: HostCredentials) {}

  private send(method: string, url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> {
    const mod = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.agents['https:'] : this.agents['http:'];
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent, signal, timeout: IDLE_TIMEOUT_MS }, (res) =>
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('no data from the server in time'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * Sends `method` to `url`, following redirects. The answer's body is the
   * caller's to consume or dump; redirect bodies are dumped here.
   */
  async open(method: 'GET' | 'HEAD', url: string, ctx: RequestContext, range?: string, extra: Record<string, string> = {}, signal = ctx.signal): Promise<Opened> {
    const first = new URL(url);
    first.hash = '';
    const chain = [first.href];
    let current = first;
    for (;;) {
      // Only the host the remote was given gets credential=NAME; other hosts get their own, if any.
      // And no credential travels over plain http after a redirect away from https.
      const downgraded = first.protocol === 'https:' && current.protocol === 'http:';
      const auth = downgraded ? NO_AUTH : await this.credentials.forUrl(current, current.host === first.host, ctx);
      const headers: Record<string, string> = { 'user-agent': 'annexd-http', 'accept-encoding': 'identity', ...extra };
      if (range) headers.range = range;
      if (auth.header) headers.authorization = auth.header;
      const res = await this.send(method, current, headers, signal);
      const location = headerValue(res.headers, 'location');
      if (!REDIRECTS.has(res.statusCode) || !location) {
        return { res, url: current.href, credentialSource: auth.credential?.source };
      }
      await dump(res);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new RedirectError(`${current.href} redirects to "${location}", which is not a URL`);
      }
      next.hash = '';
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new RedirectError(`${current.href} redirects to ${next.protocol} (${next.href}), which this remote does not follow`);
      }
      if (chain.includes(next.href)) throw new RedirectLoopError([...chain, next.href]);
      if (chain.length > MAX_REDIRECTS) {
        throw new RedirectError(`${first.href} redirects more than ${MAX_REDIRECTS} times (last to ${next.href})`);
      }
      chain.push(next.href);
      current = next;
    }
  }

  /** The error for an unexpected answer; the body is discarded so the connection is reused. */
  async failure(opened: Opened, method: string): Promise<HttpStatusError> {
    await dump(opened.res);
    return new HttpStatusError(method, opened.url, opened.res.statusCode, opened.res.headers, opened.credentialSource);
  }

  async close(): Promise<void> {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

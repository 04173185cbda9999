/**
 * HTTP for one WebDAV server: a single keep-alive undici Pool shared by every
 * ASYNC job of the process, Basic auth on every request. undici is loaded only
 * when the first client is made (at INITREMOTE or PREPARE), so the remote
 * answers VERSION quickly. Paths are absolute and already percent-encoded.
 */
import type { Dispatcher, Pool } from 'undici';
import type { Credential } from '../core/credentials.js';
import { loadUndici } from '../core/undici.js';
import { HttpStatusError } from '../core/http-error.js';


export type DavResponse = Dispatcher.ResponseData;
export type DavBody = Dispatcher.DispatchOptions['body'];

export interface DavRequest {
  headers?: Record<string, string>;
  body?: DavBody;
  signal?: AbortSignal;
}

/** Connections per server: enough for copy -J8 plus the odd MKCOL. */
const CONNECTIONS = 16;

export class DavClient {
  private constructor(
    private readonly pool: Pool,
    private readonly origin: string,
    /** Path of the remote's collection, with a trailing slash. */
    readonly basePath: string,
    private readonly authorization: string | undefined,
    readonly credential: Credential | undefined,
  ) {}

  static async connect(url: string, credential: Credential | undefined): Promise<DavClient> {
    const { Pool } = await loadUndici();
    const base = new URL(url + '/');
    const pool = new Pool(base.origin, {
      connections: CONNECTIONS,
      connect: { timeout: 10_000 },
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
    const authorization = credential
      ? `Basic ${Buffer.from(`${credential.user}:${credential.secret}`).toString('base64')}`
      : undefined;
    return new DavClient(pool, base.origin, base.pathname, authorization, credential);
  }

  /** Absolute URL of a path, for Destination headers and messages. */
  url(path: string): string {
    return this.origin + path;
  }

  request(method: string, path: string, req: DavRequest = {}): Promise<DavResponse> {
    const headers: Record<string, string> = { ...req.headers };
    if (this.authorization) headers.authorization = this.authorization;
    return this.pool.request({ method, path, headers, body: req.body, signal: req.signal });
  }

  /** The error for an unexpected answer; the body is discarded so the connection is reused. */
  async failure(res: DavResponse, method: string, path: string): Promise<HttpStatusError> {
    await res.body.dump().catch(() => undefined);
    return this.statusError(res, method, path);
  }

  /** The error for an unexpected answer whose body was already read. */
  statusError(res: DavResponse, method: string, path: string): HttpStatusError {
    return new HttpStatusError(method, this.url(path), res.statusCode, res.headers, this.credential?.source);
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => undefined);
  }
}

/**
 * HTTP to one OSF: the API and its WaterButler hosts, through one undici
 * Agent (keep-alive pools per origin) shared by every job. Every request
 * takes a token from the RequestBudget (shared with other annexd processes
 * sending to the same OSF) first; a 429 pauses the
 * budget for its Retry-After and the request is sent again, without using up
 * the retries= of the operation. The token goes only to the API's origin and
 * to the origins of the links the API handed out (WaterButler), never to a
 * redirect elsewhere. undici is loaded with the first client.
 */
import type { Agent, Dispatcher } from 'undici';
import type { RequestContext } from '../../protocol/contract.js';
import type { Credential } from '../core/credentials.js';
import { headerValue } from '../core/http-headers.js';
import { readText as readBody } from '../core/read-text.js';
import { parseRetryAfter } from '../core/retry.js';
import { loadUndici } from '../core/undici.js';
import { RequestBudget, sharedBudgetFile } from './budget.js';
import { NotOsfError, OsfHttpError } from './errors.js';

export type OsfResponse = Dispatcher.ResponseData;
export type OsfBody = Dispatcher.DispatchOptions['body'];
/** A JSON document as the server sent it; read with the helpers in storage.ts. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface OsfRequest {
  headers?: Record<string, string>;
  /** Made afresh for every send (a 429 or a redirect sends again). */
  body?: () => OsfBody;
}

/** 429s one request may meet before its operation fails (each pauses every job for Retry-After). */
const MAX_THROTTLED = 30;
/** Longest pause obeyed; a server asking for more is reported. */
const MAX_PAUSE_MS = 10 * 60_000;
const MAX_REDIRECTS = 5;
const MAX_JSON = 32 * 1024 * 1024;

export class OsfClient {
  /** Origins the token may go to: the API's, and those of the links it gave. */
  private readonly trusted = new Set<string>();

  private constructor(
    private readonly agent: Agent,
    readonly api: string,
    private readonly authorization: string | undefined,
    readonly credential: Credential | undefined,
    readonly budget: RequestBudget,
  ) {
    this.trusted.add(new URL(api).origin);
  }

  static async connect(api: string, credential: Credential | undefined, rate: number): Promise<OsfClient> {
    const { Agent } = await loadUndici();
    const agent = new Agent({ connections: 16, connect: { timeout: 10_000 }, headersTimeout: 120_000, bodyTimeout: 120_000 });
    // A token has no user; a user name (the account's email) goes with its password as Basic auth, as osfclient sends it.
    const authorization = !credential
      ? undefined
      : credential.user === ''
        ? `Bearer ${credential.secret}`
        : `Basic ${Buffer.from(`${credential.user}:${credential.secret}`).toString('base64')}`;
    return new OsfClient(agent, api, authorization, credential, new RequestBudget(rate, undefined, sharedBudgetFile(api)));
  }

  /** A link from an API answer: its origin may receive the token. */
  trust(link: string): string {
    this.trusted.add(new URL(link).origin);
    return link;
  }

  private hostOf(url: string): 'api' | 'files' {
    return new URL(url).origin === new URL(this.api).origin ? 'api' : 'files';
  }

  /**
   * One request (redirects followed, each hop within the budget). The
   * answer's status is the caller's to judge; its body must be consumed.
   */
  async request(method: string, url: string, ctx: RequestContext, req: OsfRequest = {}): Promise<OsfResponse> {
    let target = new URL(url);
    for (let hop = 0; ; hop++) {
      const res = await this.send(method, target, ctx, req);
      const location = headerValue(res.headers, 'location');
      if (![301, 302, 303, 307, 308].includes(res.statusCode) || !location || hop >= MAX_REDIRECTS) return res;
      await res.body.dump();
      target = new URL(location, target);
      if (res.statusCode === 303) method = 'GET';
    }
  }

  private async send(method: string, url: URL, ctx: RequestContext, req: OsfRequest): Promise<OsfResponse> {
    const headers: Record<string, string> = { accept: 'application/vnd.api+json, application/json', ...req.headers };
    if (this.authorization && this.trusted.has(url.origin)) headers.authorization = this.authorization;
    for (let throttled = 0; ; throttled++) {
      await this.budget.take(ctx.signal);
      const res = await this.agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: method as Dispatcher.HttpMethod,
        headers,
        body: req.body?.(),
        signal: ctx.signal,
      });
      if (res.statusCode !== 429 || throttled >= MAX_THROTTLED) return res;
      const wait = parseRetryAfter(headerValue(res.headers, 'retry-after')) ?? 1000;
      if (wait > MAX_PAUSE_MS) return res;
      await res.body.dump().catch(() => undefined);
      await this.budget.pause(wait);
      void ctx.annex.debug(`OSF asked to wait ${Math.ceil(wait / 1000)} s (HTTP 429 to ${method} ${url.pathname}): every job pauses`);
    }
  }

  /** The error for an unexpected answer, with the server's own explanation; reads (a bounded part of) the body. */
  async failure(res: OsfResponse, method: string, url: string): Promise<OsfHttpError> {
    const text = await readText(res, 64 * 1024).catch(() => '');
    const sent = this.credential === undefined ? undefined : this.credential.user === '' ? 'token' : 'password';
    return new OsfHttpError(method, url, res.statusCode, res.headers, this.credential?.source, detailOf(text), this.hostOf(url), sent);
  }

  /** A request whose answer must be JSON with one of `ok` statuses; anything else throws. */
  async json(method: string, url: string, ctx: RequestContext, ok: number[], req: OsfRequest = {}): Promise<{ status: number; body: JsonValue }> {
    const res = await this.request(method, url, ctx, req);
    if (!ok.includes(res.statusCode)) throw await this.failure(res, method, url);
    const text = await readText(res, MAX_JSON);
    try {
      return { status: res.statusCode, body: JSON.parse(text) as JsonValue };
    } catch {
      const type = headerValue(res.headers, 'content-type') ?? 'no content type';
      throw new NotOsfError(`${method} ${url} answered HTTP ${res.statusCode} with ${/html/i.test(type) ? 'an HTML page' : type}, not JSON`);
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

/** At most `limit` bytes of an answer's body as text. */
export const readText = (res: OsfResponse, limit: number): Promise<string> => readBody(res.body, limit);

/** errors[0].detail (the API), message (WaterButler), or message_long (OSF v1 via WaterButler). */
function detailOf(text: string): string | undefined {
  try {
    const j = JSON.parse(text) as { errors?: Array<{ detail?: unknown }>; message?: unknown; message_long?: unknown };
    const d = j.errors?.[0]?.detail ?? j.message ?? j.message_long;
    return typeof d === 'string' ? d.slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

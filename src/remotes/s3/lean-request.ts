/**
 * HEAD, DELETE, and the PUT and GET of small objects, without the SDK's
 * middleware stack. These are the per-key requests of `fsck --fast`, `drop`,
 * `copy` and `get` of small files (CHECKPRESENT, REMOVE, TRANSFER): measured
 * on a loopback server the SDK adds ~1.5 ms to each, more than the request
 * itself, and loading it ~100 ms to every git-annex command. Requests are
 * signed by the SDK's own SigV4 signer (the small @smithy package, not the
 * client), over the keep-alive agents the SDK client shares when it is made.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import type { S3Settings } from './config.js';
import { objectAddress, type ObjectAddress } from './address.js';
import { socketHost } from '../core/hosts.js';
import { readText } from '../core/read-text.js';

type SourceData = string | ArrayBuffer | ArrayBufferView;
export type CredentialsProvider = () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function toBuffer(data: SourceData): Buffer | string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The hash the signer wants, from node:crypto (HMAC when given a secret). */
class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.make();
  }
  private make(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.make();
  }
}

/**
 * An S3 answer other than success, shaped like the SDK's errors so one error
 * mapping serves both: named by the error body's <Code> when there is one.
 */
export class S3HttpError extends Error {
  readonly $metadata: { httpStatusCode: number };
  readonly $response: { headers: Record<string, string | undefined> };
  /** The S3 error code of the body (NoSuchKey, SignatureDoesNotMatch, …); undefined without one. */
  readonly code: string | undefined;
  constructor(
    readonly status: number,
    headers: http.IncomingHttpHeaders,
    method: string,
    body = '',
  ) {
    const code = /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1];
    const message = /<Message>([^<]{1,500})<\/Message>/.exec(body)?.[1];
    super(message ?? `${method} answered HTTP ${status}`);
    this.code = code;
    this.name = code ?? (status === 404 ? 'NotFound' : status === 403 ? 'Forbidden' : `HTTP${status}`);
    this.$metadata = { httpStatusCode: status };
    const flat: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(headers)) flat[k] = Array.isArray(v) ? v.join(', ') : v;
    this.$response = { headers: flat };
  }
}

export interface LeanResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
}

/** Error bodies are read up to this much (an S3 error document is a few hundred bytes). */
const ERROR_BODY_MAX = 16 * 1024;

/** Reads a failed answer's body (bounded) into an S3HttpError; a cut body still leaves the status. */
export async function leanError(res: http.IncomingMessage, method: string): Promise<S3HttpError> {
  const body = await readText(res, ERROR_BODY_MAX).catch(() => '');
  return new S3HttpError(res.statusCode ?? 0, res.headers, method, body);
}

export class LeanS3 {
  private readonly signer: SignatureV4;

  constructor(
    private readonly settings: S3Settings,
    credentials: CredentialsProvider,
    private readonly agents: { http: http.Agent; https: https.Agent },
    private readonly timeoutMs = 30_000,
  ) {
    this.signer = new SignatureV4({
      credentials,
      region: settings.region,
      service: 's3',
      sha256: NodeSha256,
      // S3 signs the path as sent, without the second encoding other services use.
      uriEscapePath: false,
    });
  }

  /** Signs a request for `objectKey`; exported for the signing test. */
  async sign(
    method: string,
    objectKey: string,
    extraHeaders: Record<string, string> = {},
    signingDate?: Date,
  ): Promise<{ address: ObjectAddress; headers: Record<string, string> }> {
    const address = objectAddress(this.settings, objectKey);
    const host = address.port ? `${address.hostname}:${address.port}` : address.hostname;
    const signed = await this.signer.sign(
      {
        method,
        protocol: address.protocol,
        hostname: address.hostname,
        port: address.port,
        path: address.path,
        query: {},
        headers: { host, 'x-amz-content-sha256': EMPTY_SHA256, ...extraHeaders },
      },
      { signingDate },
    );
    return { address, headers: signed.headers as Record<string, string> };
  }

  /** Sends a body-less request and returns status and headers (the body is discarded). */
  async send(method: 'HEAD' | 'DELETE', objectKey: string, signal?: AbortSignal): Promise<LeanResponse> {
    const res = await this.request(method, objectKey, { signal });
    return new Promise<LeanResponse>((resolve, reject) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      res.on('error', reject);
    });
  }

  /**
   * Sends a request, with `body` (signed by its SHA-256) when given, and
   * resolves with the answer once its head has arrived: the caller reads or
   * discards the body. `timeoutMs` is the longest silence on the socket.
   */
  async request(
    method: 'HEAD' | 'DELETE' | 'GET' | 'PUT',
    objectKey: string,
    o: { headers?: Record<string, string>; body?: Buffer; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<http.IncomingMessage> {
    const extra: Record<string, string> = { ...o.headers };
    if (o.body) {
      extra['content-length'] = String(o.body.length);
      extra['x-amz-content-sha256'] = createHash('sha256').update(o.body).digest('hex');
    }
    const { address, headers } = await this.sign(method, objectKey, extra);
    const mod = address.protocol === 'http:' ? http : https;
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = mod.request(
        {
          method,
          hostname: socketHost(address.hostname),
          port: address.port,
          path: address.path,
          headers,
          agent: address.protocol === 'http:' ? this.agents.http : this.agents.https,
          signal: o.signal,
        },
        resolve,
      );
      const timeoutMs = o.timeoutMs ?? this.timeoutMs;
      req.setTimeout(timeoutMs, () => {
        req.destroy(Object.assign(new Error(`no answer in ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', reject);
      req.end(o.body);
    });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

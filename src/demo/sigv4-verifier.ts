/**
 * SigV4 header-signature checking for the embedded S3 server. s3rver accepts
 * any SigV4 signature, so without this a wrong secret key or a signing bug
 * would pass every test. Written from AWS's description of the algorithm,
 * independently of the signer annexd uses, so each checks the other.
 * Anonymous and SigV2 requests are left to s3rver as before.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The parts of a Koa context this middleware reads and writes. */
export interface VerifierContext {
  method: string;
  req: { url?: string };
  headers: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}

const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  const pairs = rawQuery
    .split('&')
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      const name = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
      const value = eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1));
      return [rfc3986(name), rfc3986(value)] as const;
    });
  pairs.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

function header(ctx: VerifierContext, name: string): string {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

/** undefined when the signature is right (or not ours to check), else the S3 error code. */
export function checkSignature(ctx: VerifierContext, secrets: ReadonlyMap<string, string>): string | undefined {
  const auth = header(ctx, 'authorization');
  if (!auth.startsWith('AWS4-HMAC-SHA256 ')) return undefined;
  const fields = Object.fromEntries(
    auth
      .slice('AWS4-HMAC-SHA256 '.length)
      .split(',')
      .map((f) => f.trim().split('=', 2) as [string, string]),
  );
  const [accessKeyId, date, region, service, terminator] = (fields.Credential ?? '').split('/');
  const secret = accessKeyId ? secrets.get(accessKeyId) : undefined;
  // Unknown key ids are s3rver's to reject (InvalidAccessKeyId).
  if (secret === undefined) return undefined;
  if (!date || !region || !service || terminator !== 'aws4_request' || !fields.SignedHeaders || !fields.Signature) {
    return 'AuthorizationHeaderMalformed';
  }
  const url = ctx.req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const signedHeaders = fields.SignedHeaders.split(';');
  const payloadHash = header(ctx, 'x-amz-content-sha256') || 'UNSIGNED-PAYLOAD';
  const amzDate = header(ctx, 'x-amz-date');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  const signatureWith = (host: string): Buffer => {
    const value = (h: string): string => (h === 'host' ? host : header(ctx, h)).trim().replace(/\s+/g, ' ');
    const canonicalHeaders = signedHeaders.map((h) => `${h}:${value(h)}\n`).join('');
    const canonicalRequest = [ctx.method, path, canonicalQuery(query), canonicalHeaders, fields.SignedHeaders, payloadHash].join('\n');
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    return createHmac('sha256', key).update(stringToSign, 'utf8').digest();
  };
  const given = Buffer.from(fields.Signature, 'hex');
  const matches = (expected: Buffer): boolean => given.length === expected.length && timingSafeEqual(given, expected);
  const host = header(ctx, 'host');
  // git-annex's S3 library signs the host without its port; accept that form too (the secret is checked either way).
  const hostWithoutPort = host.replace(/:\d+$/, '');
  if (matches(signatureWith(host)) || (hostWithoutPort !== host && matches(signatureWith(hostWithoutPort)))) return undefined;
  return 'SignatureDoesNotMatch';
}

const MESSAGES: Record<string, string> = {
  SignatureDoesNotMatch:
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  AuthorizationHeaderMalformed: 'The authorization header is malformed.',
};

/** Koa middleware: answers 403 like S3 when a SigV4 signature is wrong. */
export function sigv4Verifier(secrets: ReadonlyMap<string, string>) {
  return async (ctx: VerifierContext, next: () => Promise<unknown>): Promise<void> => {
    const code = checkSignature(ctx, secrets);
    if (!code) {
      await next();
      return;
    }
    ctx.status = 403;
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${MESSAGES[code]}</Message></Error>`;
  };
}

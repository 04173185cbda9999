/**
 * The embedded server's SigV4 check, cross-checked against the signer annexd
 * uses (two independent implementations must agree), plus the ways it must say no.
 */
import { describe, expect, it } from 'vitest';
import { checkSignature, type VerifierContext } from '../../src/demo/sigv4-verifier.js';
import type { S3Settings } from '../../src/remotes/s3/config.js';
import { LeanS3 } from '../../src/remotes/s3/lean-request.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const secrets = new Map([['AKIDTEST', SECRET]]);

async function signed(endpoint: string, key: string, secret = SECRET): Promise<VerifierContext> {
  const s = { bucket: 'bucket', endpoint, region: 'us-east-1', pathStyle: true } as S3Settings;
  const lean = new LeanS3(s, async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: secret }), {
    http: undefined as never,
    https: undefined as never,
  });
  const { address, headers } = await lean.sign('HEAD', key);
  return { method: 'HEAD', req: { url: address.path }, headers: { ...headers }, status: 0, type: '', body: undefined };
}

describe('SigV4 verifier of the test server', () => {
  it('accepts what the signer produced, including encoded paths', async () => {
    expect(checkSignature(await signed('http://127.0.0.1:9000', 'dir/naïve file+x.txt'), secrets)).toBeUndefined();
  });

  it('rejects a signature made with another secret', async () => {
    expect(checkSignature(await signed('http://127.0.0.1:9000', 'k', 'wrong-secret'), secrets)).toBe('SignatureDoesNotMatch');
  });

  it('rejects a request altered after signing', async () => {
    const ctx = await signed('http://127.0.0.1:9000', 'k');
    ctx.req.url = '/bucket/other';
    expect(checkSignature(ctx, secrets)).toBe('SignatureDoesNotMatch');
    const ctx2 = await signed('http://127.0.0.1:9000', 'k');
    ctx2.method = 'DELETE';
    expect(checkSignature(ctx2, secrets)).toBe('SignatureDoesNotMatch');
  });

  it("accepts a host signed without its port (git-annex's S3 library does that), with the right secret only", async () => {
    const ctx = await signed('http://127.0.0.1', 'k');
    ctx.headers.host = '127.0.0.1:9000';
    expect(checkSignature(ctx, secrets)).toBeUndefined();
    const bad = await signed('http://127.0.0.1', 'k', 'wrong-secret');
    bad.headers.host = '127.0.0.1:9000';
    expect(checkSignature(bad, secrets)).toBe('SignatureDoesNotMatch');
  });

  it('leaves anonymous requests and unknown key ids to s3rver', async () => {
    const anon: VerifierContext = { method: 'GET', req: { url: '/b/k' }, headers: {}, status: 0, type: '', body: undefined };
    expect(checkSignature(anon, secrets)).toBeUndefined();
    expect(checkSignature(await signed('http://127.0.0.1:9000', 'k'), new Map())).toBeUndefined();
  });

  it('reports a malformed authorization header', () => {
    const ctx: VerifierContext = {
      method: 'GET',
      req: { url: '/b/k' },
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDTEST/20130524/us-east-1/s3/aws4_request' },
      status: 0,
      type: '',
      body: undefined,
    };
    expect(checkSignature(ctx, secrets)).toBe('AuthorizationHeaderMalformed');
  });
});

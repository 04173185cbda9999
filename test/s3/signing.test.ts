/**
 * The lean request path signs requests itself, and s3rver does not check
 * SigV4, so the signature is pinned here to AWS's published example
 * (Signature Version 4, "GET Object" example for examplebucket).
 */
import { describe, expect, it } from 'vitest';
import type { S3Settings } from '../../src/remotes/s3/config.js';
import { encodeSegment, objectAddress } from '../../src/remotes/s3/address.js';
import { LeanS3 } from '../../src/remotes/s3/lean-request.js';

function settings(over: Partial<S3Settings>): S3Settings {
  return {
    bucket: 'examplebucket',
    endpoint: undefined,
    region: 'us-east-1',
    prefix: '',
    pathStyle: false,
    publicUrl: undefined,
    credential: undefined,
    partSize: 32 << 20,
    multipartThreshold: 64 << 20,
    copyThreshold: 5 * 2 ** 30,
    concurrency: 4,
    storageClass: undefined,
    createBucket: true,
    retries: 5,
    download: { streams: 4, threshold: 64 << 20, rangeSize: 16 << 20 },
    ...over,
  };
}

describe('SigV4 signing of lean requests', () => {
  it("reproduces AWS's documented GET Object signature", async () => {
    const lean = new LeanS3(
      settings({ endpoint: 'https://s3.amazonaws.com' }),
      async () => ({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }),
      { http: undefined as never, https: undefined as never },
    );
    const { address, headers } = await lean.sign('GET', 'test.txt', { range: 'bytes=0-9' }, new Date(Date.UTC(2013, 4, 24)));
    expect(address.hostname).toBe('examplebucket.s3.amazonaws.com');
    expect(address.path).toBe('/test.txt');
    expect(headers['x-amz-date']).toBe('20130524T000000Z');
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('signs a session token when the credentials carry one', async () => {
    const lean = new LeanS3(
      settings({ endpoint: 'http://127.0.0.1:9000', pathStyle: true }),
      async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret', sessionToken: 'token-123' }),
      { http: undefined as never, https: undefined as never },
    );
    const { headers } = await lean.sign('HEAD', 'k');
    expect(headers['x-amz-security-token']).toBe('token-123');
    expect(headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-security-token/);
  });
});

describe('object addresses', () => {
  it('uses path style on a custom endpoint, keeping its port and path', () => {
    const a = objectAddress(settings({ endpoint: 'http://127.0.0.1:9000/s3', pathStyle: true, bucket: 'data' }), 'annex/ü b+c');
    expect(a).toEqual({ protocol: 'http:', hostname: '127.0.0.1', port: 9000, path: '/s3/data/annex/%C3%BC%20b%2Bc' });
  });

  it('uses virtual-hosted style on AWS, and path style for dotted bucket names', () => {
    expect(objectAddress(settings({ region: 'eu-west-1', bucket: 'plain' }), 'k')).toMatchObject({
      hostname: 'plain.s3.eu-west-1.amazonaws.com',
      path: '/k',
    });
    expect(objectAddress(settings({ region: 'eu-west-1', bucket: 'my.data' }), 'k')).toMatchObject({
      hostname: 's3.eu-west-1.amazonaws.com',
      path: '/my.data/k',
    });
  });

  it('encodes path segments per RFC 3986', () => {
    expect(encodeSegment("a!b'c(d)e*f~g")).toBe('a%21b%27c%28d%29e%2Af~g');
  });
});

describe('object addresses on IP endpoints', () => {
  it('keeps IPv6 brackets for the Host header and drops them for the socket', async () => {
    const { socketHost } = await import('../../src/remotes/core/hosts.js');
    const a = objectAddress(settings({ endpoint: 'http://[::1]:9000', pathStyle: true }), 'k');
    expect(a).toMatchObject({ hostname: '[::1]', port: 9000, path: '/examplebucket/k' });
    expect(socketHost(a.hostname)).toBe('::1');
    expect(socketHost('s3.example.org')).toBe('s3.example.org');
  });

  it('addresses the bucket in the path on an IP address even with pathstyle=no, as the SDK does', () => {
    for (const endpoint of ['http://[::1]:9000', 'http://127.0.0.1:9000']) {
      const a = objectAddress(settings({ endpoint, pathStyle: false }), 'k');
      expect(a.path).toBe('/examplebucket/k');
      expect(a.hostname).not.toContain('examplebucket');
    }
  });
});

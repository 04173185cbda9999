/** The pure parts of annexd-http: file names, templates, key facts, status verdicts. */
import { describe, expect, it } from 'vitest';
import { httpStatusVerdict } from '../../src/remotes/core/http-status.js';
import { keyFileName, keySize } from '../../src/remotes/core/keys.js';
import { dispositionFilename, safeFilename, urlFilename } from '../../src/remotes/http/filename.js';
import { parseTemplate } from '../../src/remotes/http/template.js';
import { claims, httpSettings, httpSchema } from '../../src/remotes/http/config.js';
import { readConfig } from '../../src/remotes/core/config.js';

describe('Content-Disposition and URL file names', () => {
  it('prefers filename* (RFC 5987) and decodes its charset', () => {
    expect(dispositionFilename(`attachment; filename="plain.csv"; filename*=UTF-8''r%C3%A9sum%C3%A9.csv`)).toBe('résumé.csv');
    expect(dispositionFilename(`attachment; filename*=iso-8859-1'en'caf%E9.txt`)).toBe('café.txt');
  });
  it('reads quoted and bare filename=', () => {
    expect(dispositionFilename('attachment; filename="a \\"quoted\\" name.txt"')).toBe('a "quoted" name.txt');
    expect(dispositionFilename('inline; filename=data.bin')).toBe('data.bin');
    expect(dispositionFilename('inline')).toBeUndefined();
    expect(dispositionFilename(undefined)).toBeUndefined();
  });
  it('takes the last path segment of a URL, decoded', () => {
    expect(urlFilename('https://h/a/b%20c.txt?x=1')).toBe('b c.txt');
    expect(urlFilename('https://h/dir/')).toBe('dir');
    expect(urlFilename('https://h/')).toBeUndefined();
  });
  it('reduces a suggested name to one safe segment', () => {
    expect(safeFilename('../../etc/passwd')).toBe('passwd');
    expect(safeFilename('..\\evil.exe')).toBe('evil.exe');
    expect(safeFilename('.hidden')).toBe('hidden');
    expect(safeFilename('a\u0000b\nc')).toBe('abc');
    expect(safeFilename('..')).toBeUndefined();
  });
});

describe('url= templates', () => {
  it('accepts the placeholders in both spellings and knows the host', () => {
    const t = parseTemplate('https://data.example.org:8443/objects/{annex_dirhash_lower}{key}/{annex_key}');
    expect(t.host).toBe('data.example.org:8443');
    expect(t.parts.filter((p) => typeof p !== 'string')).toEqual([
      { placeholder: 'dirhash_lower' },
      { placeholder: 'key' },
      { placeholder: 'key' },
    ]);
  });
  it('refuses templates that cannot address keys', () => {
    expect(() => parseTemplate('https://h/{dirhash}')).toThrow('must contain {key}');
    expect(() => parseTemplate('https://h/{nope}{key}')).toThrow('unknown placeholder {nope}');
    expect(() => parseTemplate('file:///srv/{key}')).toThrow('must be an http:// or https:// URL');
    expect(() => parseTemplate('not a url {key}')).toThrow('is not a URL template');
  });
});

describe('match= and claiming', () => {
  it('claims http(s) URLs, narrowed by match=', async () => {
    const all = httpSettings(await readConfig(httpSchema, async () => ''));
    expect(claims(all, 'https://x/y')).toBe(true);
    expect(claims(all, 'HTTP://x/y')).toBe(true);
    expect(claims(all, 'ftp://x/y')).toBe(false);
    expect(claims(all, 'dl+archive:KEY#path=a')).toBe(false);
    const some = httpSettings(await readConfig(httpSchema, async (n) => (n === 'match' ? '^https://data\\.org/' : '')));
    expect(claims(some, 'https://data.org/a')).toBe(true);
    expect(claims(some, 'https://other.org/a')).toBe(false);
  });
});

describe('key facts', () => {
  it('reads the size, and a chunk key its chunk size', () => {
    expect(keySize('SHA256E-s1048576--abc.txt')).toBe(1048576);
    expect(keySize('MD5-s0--d41d8cd98f00b204e9800998ecf8427e')).toBe(0);
    expect(keySize('WORM-s12-m1700000000--name-s99')).toBe(12);
    expect(keySize('SHA256E-s10-S4-C3--x')).toBe(2);
    expect(keySize('SHA256E-s10-S4-C1--x')).toBe(4);
    expect(keySize('URL--http://example.org/a-s5')).toBeUndefined();
  });
  it('names key files as git-annex does', () => {
    expect(keyFileName('URL--http://h/a&b%c')).toBe('URL--http&c%%h%a&ab&sc');
    expect(keyFileName('SHA256E-s3--abc.txt')).toBe('SHA256E-s3--abc.txt');
  });
});

describe('HTTP status verdicts', () => {
  it('retries passing trouble and honours Retry-After', () => {
    expect(httpStatusVerdict(503, '2')).toEqual({ retry: true, retryAfterMs: 2000 });
    expect(httpStatusVerdict(429, undefined)).toEqual({ retry: true, retryAfterMs: undefined });
    expect(httpStatusVerdict(500, undefined).retry).toBe(true);
    expect(httpStatusVerdict(408, undefined).retry).toBe(true);
  });
  it('does not retry answers about the request', () => {
    for (const s of [400, 401, 403, 404, 410, 416, 501, 505, 507]) expect(httpStatusVerdict(s, undefined).retry, String(s)).toBe(false);
  });
});

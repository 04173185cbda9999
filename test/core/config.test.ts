/** Config schemas and sizes, as users write them in initremote. */
import { describe, expect, it } from 'vitest';
import { integer, optionalHttpUrl, pathProblem, readConfig, requiredText, size, yesNo } from '../../src/remotes/core/config.js';
import { formatSize, parseSize } from '../../src/remotes/core/sizes.js';

describe('sizes', () => {
  it('parses the ways people write sizes', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('16MiB')).toBe(16 * 1024 * 1024);
    expect(parseSize('5 MB')).toBe(5_000_000);
    expect(parseSize('1gib')).toBe(1024 ** 3);
    expect(parseSize('1.5KiB')).toBe(1536);
    expect(parseSize('lots')).toBeUndefined();
    expect(parseSize('5 parsecs')).toBeUndefined();
    expect(parseSize('')).toBeUndefined();
  });

  it('formats sizes for messages', () => {
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(17 * 1024 * 1024)).toBe('17 MiB');
    expect(formatSize(1.5 * 1024 ** 3)).toBe('1.50 GiB');
  });
});

describe('readConfig', () => {
  const schema = {
    bucket: requiredText('bucket', 'bucket=my-annex'),
    endpoint: optionalHttpUrl('endpoint'),
    partsize: size('part size', '32MiB', 5 * 1024 * 1024),
    concurrency: integer('parallel parts', 4, 1, 32),
    createbucket: yesNo('create', true),
  };
  const from = (values: Record<string, string>) => (name: string) => Promise.resolve(values[name] ?? '');

  it('applies defaults and parses values', async () => {
    const c = await readConfig(schema, from({ bucket: 'b', endpoint: 'http://127.0.0.1:9000/', concurrency: '8', createbucket: 'no' }));
    expect(c).toEqual({ bucket: 'b', endpoint: 'http://127.0.0.1:9000', partsize: 32 * 1024 * 1024, concurrency: 8, createbucket: false });
  });

  it('names the setting and the fix in one line', async () => {
    await expect(readConfig(schema, from({}))).rejects.toThrow('bucket= is required, e.g. bucket=my-annex');
    await expect(readConfig(schema, from({ bucket: 'b', endpoint: 'ftp://x' }))).rejects.toThrow(/^endpoint= must be an http/);
    await expect(readConfig(schema, from({ bucket: 'b', concurrency: 'many' }))).rejects.toThrow('concurrency= must be a whole number, not "many"');
    await expect(readConfig(schema, from({ bucket: 'b', createbucket: 'maybe' }))).rejects.toThrow('createbucket= must be yes or no, not "maybe"');
    await expect(readConfig(schema, from({ bucket: 'b', partsize: '1MiB' }))).rejects.toThrow('partsize= must be at least 5242880 bytes');
  });
});

describe('URLs and paths a new user mistypes', () => {
  const endpoint = optionalHttpUrl('endpoint');
  it('a URL without a scheme names the one to add', () => {
    expect(() => endpoint.parse('localhost:9000')).toThrow('must start with http:// or https://: "localhost:9000" (e.g. http://localhost:9000)');
    expect(() => endpoint.parse('127.0.0.1:9000')).toThrow('(e.g. http://127.0.0.1:9000)');
    expect(() => endpoint.parse('http//s3.example.org')).toThrow('(e.g. http://s3.example.org)');
    expect(endpoint.parse('https://[::1]:9000/')).toBe('https://[::1]:9000');
  });

  it('an S3 endpoint (any URL setting) whose path new URL() would quietly rewrite is refused', () => {
    expect(() => endpoint.parse('http://127.0.0.1:9000/s3/../other')).toThrow('has the path "/s3/../other", which must not contain "." or ".." segments');
    expect(() => endpoint.parse('http://127.0.0.1:9000/%2e%2e/x')).toThrow('"." or ".." segments');
    expect(() => endpoint.parse('http://127.0.0.1:9000/?x=1')).toThrow('must not contain a query');
    expect(endpoint.parse('http://127.0.0.1:9000/s3/')).toBe('http://127.0.0.1:9000/s3');
  });

  it('pathProblem refuses what could leave a bucket or collection, and nothing else', () => {
    for (const p of ['', 'annex/', 'a/b/c', 'a.b/..c/', 'x']) expect(pathProblem(p)).toBeUndefined();
    expect(pathProblem('../up/')).toMatch(/"\." or "\.\." segments/);
    expect(pathProblem('a/./b')).toMatch(/"\." or "\.\." segments/);
    expect(pathProblem('/a')).toBe('must not start with "/" (write "a")');
    expect(pathProblem('x//y/')).toBe('must not contain empty segments ("//")');
    expect(pathProblem('dir/', { trailingSlash: false })).toBe('must not contain empty segments ("//")');
  });
});

/**
 * Issue 8.3 and 8.5 for S3: settings that would address something else are
 * refused at initremote, and the misconfigurations a new user makes are
 * named with their fix, in one line, against real servers.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AnnexRepo } from '../support/annex.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';
import { startWebSources, type WebSources } from '../support/http-sources.js';
import { startTestDav, type TestDav } from '../support/webdav.js';
import { requireTool } from '../support/tools.js';

const suite = useS3Suite();
let repo: AnnexRepo;
let web: WebSources;
let dav: TestDav;
let tls: https.Server;
let tlsPort: number;
let caFile: string;

const base = ['type=external', 'externaltype=annexd-s3', 'encryption=none'];

beforeAll(async () => {
  repo = await AnnexRepo.create(suite.sandbox);
  web = await startWebSources(suite.sandbox.dir);
  dav = await startTestDav('lighttpd', suite.sandbox.dir);
  requireTool('openssl', 'apt-get install -y openssl');
  // A real TLS server whose certificate is for another name; trusted through NODE_EXTRA_CA_CERTS.
  const key = join(suite.sandbox.dir, 'tls.key');
  caFile = join(suite.sandbox.dir, 'tls.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', caFile, '-days', '2', '-subj', '/CN=s3.other.example', '-addext', 'subjectAltName=DNS:s3.other.example'], { stdio: 'ignore' });
  tls = https.createServer({ key: await readFile(key), cert: await readFile(caFile) }, (_q, r) => r.end());
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  tlsPort = (tls.address() as { port: number }).port;
});

afterAll(async () => {
  await web?.stop();
  await dav?.stop();
  await new Promise((r) => tls?.close(r));
});

async function initremoteFails(env: NodeJS.ProcessEnv, ...params: string[]): Promise<string> {
  const r = await repo.run('git', ['annex', 'initremote', ...params], env);
  const out = r.stdout + r.stderr;
  expect(r.code, out).not.toBe(0);
  // One line, plain words: no SDK internals, no escaped line breaks.
  expect(out).not.toMatch(/\\n|@aws-sdk|Deserialization|\$response/);
  return out;
}

describe('prefix= and bucket= that would leave the bucket', () => {
  it.each([
    ['../up2/', /prefix= must not contain "\." or "\.\." segments: they could leave the bucket/],
    ['a/../../b/', /prefix= must not contain "\." or "\.\." segments/],
    ['/a', /prefix= must not start with "\/" \(write "a"\)/],
    ['x//y/', /prefix= must not contain empty segments \("\/\/"\)/],
  ])('refuses prefix=%s at initremote, before any request', async (prefix, message) => {
    const bucket = suite.s3.bucket('prefix');
    const out = await initremoteFails(suite.s3.credsEnv, `p${Math.random().toString(36).slice(2, 8)}`, ...base, `bucket=${bucket}`, `endpoint=${suite.s3.endpoint}`, `prefix=${prefix}`);
    expect(out).toMatch(message);
    expect(out).toMatch(/e\.g\. prefix=annex\//);
    // Nothing was created: the check came before the server was asked.
    await expect(suite.s3.list(bucket)).rejects.toThrow();
  });

  it('accepts ordinary prefixes and stores under them', async () => {
    const bucket = await initS3Remote(repo, suite.s3, 'goodprefix', ['prefix=annex/sub/']);
    await repo.write('p.txt', 'prefixed\n');
    await repo.commitAll();
    await repo.ok('git', 'annex', 'copy', '--to', 'goodprefix', 'p.txt');
    const keys = await suite.s3.list(bucket);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^annex\/sub\/SHA256E-/);
  });

  it.each(['a/b', '..', 'my bucket'])('refuses bucket=%s', async (bucket) => {
    const out = await initremoteFails(suite.s3.credsEnv, 'badbucket', ...base, `bucket=${bucket}`, `endpoint=${suite.s3.endpoint}`);
    expect(out).toMatch(/bucket= ".*" is not a bucket name: no "\/", "\\", spaces or dot segments/);
  });
});

describe('endpoints that are not what they seem', () => {
  it('an endpoint with a path the server does not have: names the path, not createbucket', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'subpath', ...base, 'bucket=b1', `endpoint=${suite.s3.endpoint}/sub`);
    expect(out).toMatch(/did not take the request to create it as one \(it answered NoSuchBucket\): endpoint= has the path \/sub: most S3 servers answer at the root \(e\.g\. http:\/\/127\.0\.0\.1:\d+\)/);
    expect(out).not.toMatch(/createbucket=yes/);
  });

  it('a web server that is not S3: "does not look like an S3 server"', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'notS3', ...base, 'bucket=b1', `endpoint=${web.web}`);
    expect(out).toMatch(new RegExp(`${web.web.replace(/[.]/g, '\\.')} does not look like an S3 server: it answered HTTP \\d+ with (an HTML page|something that is not S3 XML); check endpoint=`));
  });

  it('a WebDAV server given as the endpoint (it asks for HTTP authentication, S3 never does)', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'davAsS3', ...base, 'bucket=b1', `endpoint=${dav.url}`);
    expect(out).toMatch(/does not look like an S3 server: it answered HTTP 401/);
  });

  it('http:// to a port that speaks https: suggests the https:// URL, at once', async () => {
    const out = await initremoteFails(suite.s3.credsEnv, 'tlsport', ...base, 'bucket=b1', `endpoint=http://127.0.0.1:${tlsPort}`);
    expect(out).toMatch(new RegExp(`speaks https on this port, and plain http was sent: use https://127\\.0\\.0\\.1:${tlsPort} instead`));
    expect(out).not.toMatch(/retrying|reset/);
  });

  it('a certificate for another host name: names the names it has and the fix', async () => {
    const out = await initremoteFails(
      { ...suite.s3.credsEnv, NODE_EXTRA_CA_CERTS: caFile },
      'othername', ...base, 'bucket=b1', `endpoint=https://127.0.0.1:${tlsPort}`,
    );
    expect(out).toMatch(/the server's certificate is for s3\.other\.example, not 127\.0\.0\.1: use a name the certificate has in the URL/);
  });
});

describe('a bucket that goes away', () => {
  it('NoSuchBucket during a copy says how to create it again, not to set what is already set', async () => {
    const bucket = await initS3Remote(repo, suite.s3, 'vanishing');
    const client = new S3Client({ endpoint: suite.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: suite.s3.accessKeyId, secretAccessKey: suite.s3.secretAccessKey } });
    for (const key of await suite.s3.list(bucket)) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
    await repo.write('v.txt', 'vanish\n');
    await repo.commitAll();
    const r = await repo.run('git', ['annex', 'copy', '--to', 'vanishing', 'v.txt']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/does not exist: if it was deleted, "git annex enableremote REMOTE" creates it again/);
    // And it does.
    await repo.ok('git', 'annex', 'enableremote', 'vanishing');
    await repo.ok('git', 'annex', 'copy', '--to', 'vanishing', 'v.txt');
    expect(await readdir(suite.sandbox.dir)).toBeDefined();
  });
});

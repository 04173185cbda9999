/** Credentials, bad URLs and servers that are not WebDAV: every failure names its cause and fix. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { freePort } from '../support/servers.js';
import { DAV_KINDS, initDavRemote, useDavSuite } from '../support/webdav.js';

const initArgs = (name: string, url: string, ...more: string[]): string[] =>
  ['annex', 'initremote', name, 'type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=${url}`, ...more];

describe.each(DAV_KINDS)('credentials on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('remembers WEBDAV_USERNAME/WEBDAV_PASSWORD given at initremote, owner-only and out of git', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'remember');
    await initDavRemote(repo, suite.dav, 'dav');
    const creds = join(repo.path, '.git/annex/annexd/creds');
    const [file] = await readdir(creds);
    expect(file).toMatch(/-annexd-webdav\.json$/);
    expect((await stat(join(creds, file!))).mode & 0o777).toBe(0o600);

    await repo.write('a.txt', 'remembered\n');
    await repo.commitAll();
    // No WEBDAV_* variables from here on.
    const copy = await repo.ok('git', 'annex', '--debug', 'copy', '--to', 'dav', 'a.txt');
    expect(copy.stdout + copy.stderr).not.toContain(suite.dav.password);
    const info = await repo.ok('git', 'annex', 'info', 'dav');
    expect(info.stdout).toMatch(/user: u/);
    expect(info.stdout).not.toContain(suite.dav.password);
    expect(await readFile(join(repo.path, '.git/config'), 'utf8')).not.toContain(suite.dav.password);
    const branch = await repo.ok('git', 'log', '-p', 'git-annex');
    expect(branch.stdout).not.toContain(suite.dav.password);
  });

  it('refuses a wrong password at initremote, naming the credentials and the 401', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'wrongpw');
    const r = await repo.run('git', initArgs('bad', suite.dav.collection('bad')), { WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: 'not-the-password' });
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toMatch(/refused the credentials from environment \(WEBDAV_USERNAME\) \(HTTP 401\)/);
    expect(out).toContain('WEBDAV_PASSWORD');
    expect(out).not.toContain('not-the-password');
  });

  it('finds a stored credential by realm, or by credential=NAME, with no WEBDAV_* variables', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'stored');
    const host = new URL(suite.dav.url).host;
    await repo.okEnv({}, 'sh', '-c', `printf %s '${suite.dav.password}' | annexd credentials set davhost user=u realm=${host} --store file`);
    await repo.ok('git', ...initArgs('byrealm', suite.dav.collection('byrealm')));
    await repo.ok('git', ...initArgs('byname', suite.dav.collection('byname'), 'credential=davhost'));
    await repo.write('s.txt', 'stored credential\n');
    await repo.commitAll();
    for (const remote of ['byrealm', 'byname']) {
      const copy = await repo.ok('git', 'annex', '--debug', 'copy', '--to', remote, 's.txt');
      expect(copy.stdout + copy.stderr).not.toContain(suite.dav.password);
      const info = await repo.ok('git', 'annex', 'info', remote);
      expect(info.stdout).toMatch(/user: u/);
    }
    // Found in the store, so nothing was remembered in the repository.
    const remembered = await readdir(join(repo.path, '.git/annex/annexd/creds')).catch(() => []);
    expect(remembered).toEqual([]);
    // The store is shared by this file's tests: later ones must not find it by realm.
    await repo.ok('annexd', 'credentials', 'remove', 'davhost');
  });

  it('tells a user without credentials which variables to set', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'nocreds');
    const r = await repo.run('git', initArgs('none', suite.dav.collection('none')));
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toMatch(/needs credentials \(HTTP 401\): set WEBDAV_USERNAME and WEBDAV_PASSWORD/);
    expect(out).toContain('annexd credentials set');
  });
});

describe('bad urls', () => {
  let sandbox: Sandbox;
  let plain: Server;
  let plainUrl: string;
  let plainRequests = 0;
  let s3: TestS3;
  let odd: Server;
  let oddUrl: string;

  beforeAll(async () => {
    sandbox = await createSandbox();
    // A plain web server: no WebDAV methods.
    plain = createServer((req, res) => {
      plainRequests++;
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 200 : 405, { allow: 'GET, HEAD' }).end();
    });
    const port = await freePort();
    await new Promise<void>((resolve) => plain.listen(port, '127.0.0.1', resolve));
    plainUrl = `http://127.0.0.1:${port}/files`;
    s3 = await startTestS3(sandbox.dir);
    // Answers no WebDAV server gives to PROPFIND.
    odd = createServer((req, res) => {
      if (req.url?.startsWith('/x/get-like')) res.writeHead(200, { 'content-type': 'text/html' }).end('<html>files</html>');
      else if (req.url?.startsWith('/x/no-multistatus')) res.writeHead(207, { 'content-type': 'text/html' }).end('<html>207?</html>');
      else res.writeHead(400).end('bad request');
    });
    const oddPort = await freePort();
    await new Promise<void>((resolve) => odd.listen(oddPort, '127.0.0.1', resolve));
    oddUrl = `http://127.0.0.1:${oddPort}/x`;
  });
  afterAll(async () => {
    await s3?.stop();
    await new Promise((resolve) => odd?.close(resolve));
    await new Promise((resolve) => plain?.close(resolve));
    await sandbox?.cleanup();
  });

  it('says when the server is not a WebDAV server', async () => {
    const repo = await AnnexRepo.create(sandbox, 'notdav');
    const r = await repo.run('git', initArgs('plainweb', plainUrl));
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toContain(`the server at ${plainUrl} is not a WebDAV server (PROPFIND not allowed`);
  });

  it('refuses a URL that is not http(s), and a missing one', async () => {
    const repo = await AnnexRepo.create(sandbox, 'badurl');
    const ftp = await repo.run('git', initArgs('ftp', 'ftp://example.org/annex'));
    expect(ftp.code).not.toBe(0);
    expect(ftp.stdout + ftp.stderr).toMatch(/url= must be an http:\/\/ or https:\/\/ URL, not ftp:/);
    const none = await repo.run('git', ['annex', 'initremote', 'nourl', 'type=external', 'externaltype=annexd-webdav', 'encryption=none']);
    expect(none.code).not.toBe(0);
    expect(none.stdout + none.stderr).toMatch(/url= is required, e\.g\. url=https:\/\//);
  });

  it('says an S3 server is not a WebDAV server (the real s3rver the S3 tests use), with and without credentials', async () => {
    const repo = await AnnexRepo.create(sandbox, 's3notdav');
    const creds = { WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: 'p' };
    const cases: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
      // Basic auth: 400 InvalidArgument; anonymous: 404 NoSuchBucket; at the top: a bare 404 to PROPFIND and MKCOL.
      [`${s3.endpoint}/some-bucket/annex`, creds, /\(it answers PROPFIND like an S3 server: HTTP 400 InvalidArgument; for S3 use externaltype=annexd-s3\); check url=/],
      [`${s3.endpoint}/some-bucket/annex`, {}, /\(it answers PROPFIND like an S3 server: HTTP 404 NoSuchBucket; for S3 use externaltype=annexd-s3\); check url=/],
      [`${s3.endpoint}/annex`, {}, /\(nothing is at the URL, and MKCOL http:\/\/[^ ]+\/annex\/ answered HTTP 404\); check url=/],
    ];
    for (const [url, env, message] of cases) {
      const r = await repo.run('git', initArgs('s3', url, 'retries=0'), env);
      const out = r.stdout + r.stderr;
      expect(r.code, out).not.toBe(0);
      expect(out, url).toContain(`the server at ${url} is not a WebDAV server (`);
      expect(out, url).toMatch(message);
      expect(out).not.toMatch(/HTTP 400$/m);
    }
  });

  it('says a server that ignores PROPFIND (answers like a GET) or sends no multistatus is not a WebDAV server', async () => {
    const repo = await AnnexRepo.create(sandbox, 'ignores');
    for (const [path, reason] of [
      ['get-like', 'it answered PROPFIND like a GET: HTTP 200'],
      ['no-multistatus', 'it answered PROPFIND with HTTP 207 but no WebDAV multistatus'],
      ['bad-request', 'it called PROPFIND a bad request: HTTP 400'],
    ]) {
      const url = `${oddUrl}/${path}`;
      const r = await repo.run('git', initArgs('odd', url, 'retries=0'));
      const out = r.stdout + r.stderr;
      expect(r.code, out).not.toBe(0);
      expect(out).toContain(`the server at ${url} is not a WebDAV server (${reason}); check url=`);
    }
  });

  it('refuses url= paths with "..", "." or empty segments, a query or a fragment, before sending anything', async () => {
    const repo = await AnnexRepo.create(sandbox, 'badpath');
    const dots = /url= has the path "[^"]*", which must not contain "\." or "\.\." segments: they could leave the bucket or collection/;
    const cases: Array<[string, RegExp]> = [
      // new URL() would quietly make these /up2 and /files/x.
      [`${plainUrl}/../up2`, dots],
      [`${plainUrl}/./x`, dots],
      [`${plainUrl}/%2E%2e/up2`, dots],
      [`${plainUrl}\\..\\up2`, dots],
      [`${plainUrl}//x`, /url= has the path "[^"]*", which must not contain empty segments \("\/\/"\)/],
      [`${plainUrl}?dir=annex`, /url= must not contain a query \("\?…"\) or a fragment \("#…"\): give the server's path only/],
      [`${plainUrl}#annex`, /url= must not contain a query \("\?…"\) or a fragment \("#…"\)/],
    ];
    const before = plainRequests;
    for (const [url, message] of cases) {
      const r = await repo.run('git', initArgs('badpath', url));
      const out = r.stdout + r.stderr;
      expect(r.code, out).not.toBe(0);
      expect(out, url).toMatch(message);
    }
    expect(plainRequests).toBe(before);
  });

  it('names an unreachable server', async () => {
    const repo = await AnnexRepo.create(sandbox, 'unreachable');
    const port = await freePort();
    const r = await repo.run('git', initArgs('gone', `http://127.0.0.1:${port}/dav`, 'retries=0'));
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toContain(`cannot reach http://127.0.0.1:${port}/dav: connection refused`);
  });
});

/**
 * IPv6 endpoints (issue 8.1): URLs keep an IPv6 literal in brackets
 * (http://[::1]:PORT), and a connection made from URL.hostname without
 * removing them asks DNS for "[::1]". Every remote is driven over [::1]
 * through copy, fsck, drop and get, against its real server.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, initExternalRemote, type Sandbox } from '../support/annex.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { startTestDav, type TestDav } from '../support/webdav.js';
import { startWebSources, type WebSources } from '../support/http-sources.js';
import { ipv6Front } from '../support/servers.js';

let sandbox: Sandbox;
let s3: TestS3;
let dav: TestDav;
let web: WebSources;
const fronts: Array<{ close(): Promise<void> }> = [];

async function front(url: string): Promise<string> {
  const f = await ipv6Front(Number(new URL(url).port));
  fronts.push(f);
  return f.url;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  [s3, dav, web] = await Promise.all([startTestS3(sandbox.dir), startTestDav('lighttpd', sandbox.dir), startWebSources(sandbox.dir)]);
});

afterAll(async () => {
  for (const f of fronts) await f.close();
  await Promise.all([s3?.stop(), dav?.stop(), web?.stop()]);
  await sandbox?.cleanup();
});

/** copy → fsck → drop → get over the remote, with no failure anywhere. */
async function roundTrip(repo: AnnexRepo, remote: string): Promise<void> {
  await repo.write('one.bin', randomBytes(4096));
  await repo.write('two.txt', 'two\n');
  await repo.commitAll();
  await repo.ok('git', 'annex', 'copy', '-J2', '--to', remote, '.');
  const fsck = await repo.ok('git', 'annex', 'fsck', '--fast', '--from', remote);
  expect(fsck.stdout + fsck.stderr).not.toMatch(/fail/i);
  await repo.ok('git', 'annex', 'drop', '.');
  await repo.ok('git', 'annex', 'get', '.');
  expect((await repo.ok('git', 'annex', 'find', '--in', 'here')).stdout.trim().split('\n').sort()).toEqual(['one.bin', 'two.txt']);
}

describe('endpoints given as IPv6 literals', () => {
  it('annexd-s3 at http://[::1]:PORT', async () => {
    const repo = await AnnexRepo.create(sandbox, 's3-v6');
    await initExternalRemote(repo, 'annexd-s3', 's3v6', [`bucket=${s3.bucket('v6')}`, `endpoint=${await front(s3.endpoint)}`], s3.credsEnv);
    await roundTrip(repo, 's3v6');
  });

  it('annexd-webdav at http://[::1]:PORT/dav/…', async () => {
    const repo = await AnnexRepo.create(sandbox, 'dav-v6');
    const url = dav.collection('v6').replace(/^http:\/\/127\.0\.0\.1:\d+/, await front(dav.url));
    await initExternalRemote(repo, 'annexd-webdav', 'davv6', [`url=${url}`], dav.credsEnv);
    await roundTrip(repo, 'davv6');
  });

  it('annexd-http claims, checks and downloads http://[::1]:PORT/ URLs', async () => {
    const repo = await AnnexRepo.create(sandbox, 'http-v6');
    await web.put('files/v6.bin', randomBytes(2048));
    await initExternalRemote(repo, 'annexd-http', 'webv6', []);
    const url = `${await front(web.web)}/files/v6.bin`;
    await repo.ok('git', 'annex', 'addurl', '--file', 'v6.bin', url);
    await repo.ok('git', 'commit', '-q', '-m', 'v6');
    await repo.ok('git', 'annex', 'drop', 'v6.bin');
    await repo.ok('git', 'annex', 'get', 'v6.bin');
    const whereis = await repo.ok('git', 'annex', 'whereis', 'v6.bin');
    expect(whereis.stdout).toContain('webv6');
  });
});

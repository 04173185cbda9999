/**
 * The helper on WebDAV (lighttpd) through git-annex's own type=webdav, with
 * the url= quoted as datalad-next's create-sibling-webdav writes it, and
 * through annexd-webdav.
 */
import { describe, expect, it } from 'vitest';
import { useDavSuite } from '../support/webdav.js';
import { git, gitOk, log, newRepo } from './helpers.js';
import { cloneFetchPush, type Ctx } from './scenarios.js';
import { join } from 'node:path';

const suite = useDavSuite('lighttpd');
const ctx = (): Ctx => ({ dir: suite.sandbox.dir, env: { ...suite.sandbox.env, ...suite.dav.credsEnv } });

describe('git-remote-datalad-annex on WebDAV', () => {
  it("git-annex's own type=webdav, url= percent-encoded as DataLad writes it", async () => {
    const url = suite.dav.collection('own');
    await cloneFetchPush(ctx(), `datalad-annex::?type=webdav&encryption=none&exporttree=no&url=${encodeURIComponent(url)}`);
  });

  it('annexd-webdav, and the {noquery} placeholder of the URL form', async () => {
    const url = suite.dav.collection('annexd');
    const u = `datalad-annex::${url}?type=external&externaltype=annexd-webdav&encryption=none&url={noquery}`;
    const a = await newRepo(ctx() as never, 'dav-a', 'one');
    await gitOk(ctx(), a, 'remote', 'add', 'dep', u);
    const p = await git(ctx(), a, 'push', 'dep', 'main');
    expect(p.code, p.stderr).toBe(0);
    const b = join(suite.sandbox.dir, 'dav-b');
    const c = await git(ctx(), suite.sandbox.dir, 'clone', u, b);
    expect(c.code, c.stderr).toBe(0);
    expect(await log(ctx() as never, b)).toEqual(['one']);
  });

  it('dlacredential=NAME: a DataLad credential (git config user, secret in the environment) for type=webdav; a missing one is one line', async () => {
    const url = suite.dav.collection('dlacred');
    const env = { ...suite.sandbox.env, DATALAD_CREDENTIAL_MYDAV_SECRET: suite.dav.password };
    const a = await newRepo({ ...suite.sandbox, env } as never, 'dlacred-a', 'c1');
    await gitOk({ env }, a, 'config', 'datalad.credential.mydav.user', suite.dav.user);
    const u = `datalad-annex::?type=webdav&encryption=none&url=${encodeURIComponent(url)}&dlacredential=mydav`;
    await gitOk({ env }, a, 'remote', 'add', 'dep', u);
    const p = await git({ env }, a, 'push', 'dep', 'main');
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).not.toContain(suite.dav.password);
    const b = await git({ env: suite.sandbox.env }, suite.sandbox.dir, 'clone', u.replace('mydav', 'nosuch'), join(suite.sandbox.dir, 'dlacred-b'));
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/git-remote-datalad-annex: dlacredential=nosuch: DataLad has no credential of that name/);
  });

  it('a wrong password is one line naming the storage', async () => {
    const url = suite.dav.collection('wrongpw');
    const env = { ...ctx().env, WEBDAV_PASSWORD: 'wrong' };
    const r = await git({ env }, suite.sandbox.dir, 'clone', `datalad-annex::?type=external&externaltype=annexd-webdav&encryption=none&url=${url}`, join(suite.sandbox.dir, 'wrongpw'));
    expect(r.code).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('git-remote-datalad-annex:'));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/401|password|credential|refused/i);
  });
});

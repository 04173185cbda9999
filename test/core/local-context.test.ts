/**
 * The local RequestContext: a special remote's configuration as git-annex
 * wrote it (remote.log in the git-annex branch, and the journal), and
 * GETCREDS answered as git-annex answers an external remote, from real
 * repositories made by git-annex.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLocalRemote, localContext } from '../../src/remotes/core/local-context.js';
import { parseRemoteLog } from '../../src/remotes/core/repo-settings.js';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(async () => sandbox?.cleanup());

describe('remote.log', () => {
  it('unescapes values as git-annex does, and lets the newest line of a UUID win', () => {
    const log = parseRemoteLog(
      [
        'u1 name=old type=external timestamp=1700000002.5s',
        'u1 name=newer type=external timestamp=1700000003s',
        'u1 name=older type=external timestamp=1700000001s',
        'u2 name=untimed dir=a&32;b&38;c&10; odd=R&D&x;&;',
        '',
        'u3 name=tie-a timestamp=5s',
        'u3 name=tie-b timestamp=5s',
      ].join('\n'),
    );
    expect(log.get('u1')).toEqual({ name: 'newer', type: 'external' });
    expect(log.get('u2')).toEqual({ name: 'untimed', dir: 'a b&c\n', odd: 'R&D&x;&;' });
    expect(log.get('u3')?.name).toBe('tie-b');
  });

  it('finds a special remote by its git remote, or by its initremote name in a clone that has not enabled it', async () => {
    const repo = await AnnexRepo.create(sandbox, 'origin');
    // A setting with a space and an "&", which git-annex escapes in remote.log.
    const match = '^https://data host/a&b c/';
    await repo.ok('git', 'annex', 'initremote', 'store', 'type=external', 'externaltype=annexd-http', 'encryption=none', `match=${match}`);
    const uuid = (await repo.ok('git', 'config', 'remote.store.annex-uuid')).stdout.trim();
    expect((await repo.ok('git', 'cat-file', 'blob', 'git-annex:remote.log')).stdout).toContain('match=^https://data&32;host/a&38;b&32;c/ ');
    const found = await findLocalRemote('store', { cwd: repo.path });
    expect(found).toMatchObject({ name: 'store', uuid, gitDir: join(repo.path, '.git') });
    expect(found.config).toMatchObject({ name: 'store', type: 'external', externaltype: 'annexd-http', match, encryption: 'none' });

    const clone = await AnnexRepo.clone(sandbox, repo, 'clone');
    expect((await clone.run('git', ['config', 'remote.store.annex-uuid'])).code).toBe(1);
    expect((await findLocalRemote('store', { cwd: clone.path })).uuid).toBe(uuid);
    await expect(findLocalRemote('nosuch', { cwd: clone.path })).rejects.toThrow(/no remote named "nosuch" in this repository/);
    // "origin" is a git remote, not a special remote.
    await expect(findLocalRemote('origin', { cwd: clone.path })).rejects.toThrow(/has no special remote configuration in the git-annex branch/);
  });

  it('reads uncommitted changes from the journal, newer than the branch', async () => {
    const repo = await AnnexRepo.create(sandbox, 'journal');
    await repo.ok('git', 'annex', 'initremote', 'j', 'type=directory', `directory=${sandbox.dir}`, 'encryption=none');
    const found = await findLocalRemote('j', { cwd: repo.path });
    const journal = join(repo.path, '.git', 'annex', 'journal');
    await mkdir(journal, { recursive: true });
    await writeFile(join(journal, 'remote.log'), `${found.uuid} name=j type=directory directory=/else&32;where encryption=none timestamp=${Date.now() / 1000 + 60}s\n`);
    expect((await findLocalRemote('j', { cwd: repo.path })).config.directory).toBe('/else where');
  });
});

describe('localContext', () => {
  it('answers GETCONFIG, GETUUID, GETGITDIR and GETCREDS as git-annex does, and refuses to write', async () => {
    const repo = await AnnexRepo.create(sandbox, 'creds');
    await repo.ok('git', 'annex', 'initremote', 'c', 'type=directory', `directory=${sandbox.dir}`, 'encryption=none');
    const remote = await findLocalRemote('c', { cwd: repo.path });
    const infos: string[] = [];
    const ctx = localContext(remote, { env: {}, info: (m) => infos.push(m) });
    expect(await ctx.annex.getConfig('type')).toBe('directory');
    expect(await ctx.annex.getConfig('unset')).toBe('');
    expect(await ctx.annex.getUUID()).toBe(remote.uuid);
    expect((await ctx.annex.getGitDir()).toString()).toBe(join(repo.path, '.git'));
    expect(await ctx.annex.getGitRemoteName()).toBe('c');
    await ctx.annex.info('hello');
    expect(infos).toEqual(['hello']);

    expect(await ctx.annex.getCreds('mycreds')).toBeUndefined();
    // Embedded (embedcreds=yes, no encryption): base64 of "user\npassword\n" in remote.log.
    const embedded = { ...remote, config: { ...remote.config, mycreds: Buffer.from('emb-user\nemb-pass\n').toString('base64') } };
    expect(await localContext(embedded, { env: {} }).annex.getCreds('mycreds')).toEqual({ user: 'emb-user', password: 'emb-pass' });
    // gpg-encrypted embedded creds cannot be read here.
    expect(await localContext({ ...embedded, config: { ...embedded.config, cipher: 'xyz' } }, { env: {} }).annex.getCreds('mycreds')).toBeUndefined();
    // git-annex's local cache wins over the embedded pair.
    const credsDir = join(repo.path, '.git', 'annex', 'creds');
    await mkdir(credsDir, { recursive: true });
    await writeFile(join(credsDir, `${remote.uuid}-mycreds`), 'cache-user\ncache-pass\n', { mode: 0o600 });
    expect(await localContext(embedded, { env: {} }).annex.getCreds('mycreds')).toEqual({ user: 'cache-user', password: 'cache-pass' });
    // And the environment wins over both.
    const env = { [`${remote.uuid}-mycredslogin`]: 'env-user', [`${remote.uuid}-mycredspassword`]: 'env-pass' };
    expect(await localContext(embedded, { env }).annex.getCreds('mycreds')).toEqual({ user: 'env-user', password: 'env-pass' });

    await expect(ctx.annex.setConfig('x', 'y')).rejects.toThrow(/SETCONFIG is not available outside git-annex/);
    await expect(ctx.annex.setCreds('s', 'u', 'p')).rejects.toThrow(/SETCREDS is not available outside git-annex/);
  });
});

/**
 * `annexd create-sibling-webdav` against lighttpd's WebDAV: datalad-next's
 * defaults (name from the host, NAME-storage), the storage sibling with
 * autoenable in remote.log, the git sibling's URL and keys, push then clone
 * and get, each mode, --existing skip|error|reconfigure, and refusals that
 * configure nothing.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../src/util/exec.js';
import { AnnexRepo } from '../support/annex.js';
import { cloneAndGet, config, records, remoteLogLine } from '../support/create-sibling.js';
import { BIN_DIR } from '../support/tools.js';
import { useDavSuite } from '../support/webdav.js';

const suite = useDavSuite('lighttpd');

async function dataset(name: string): Promise<AnnexRepo> {
  const repo = await AnnexRepo.create(suite.sandbox, name);
  await repo.write('data/one.txt', 'one\n');
  await repo.commitAll();
  return repo;
}

const annexd = (repo: AnnexRepo, args: string[], env: NodeJS.ProcessEnv = suite.dav.credsEnv): Promise<ExecResult> =>
  repo.run(join(BIN_DIR, 'annexd'), args, env);
const csw = (repo: AnnexRepo, url: string, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<ExecResult> =>
  annexd(repo, ['create-sibling-webdav', url, ...args], env);

const gitUrl = (url: string): string => `datalad-annex::?type=external&externaltype=annexd-webdav&encryption=none&url=${url}`;

/** Every file below a directory, relative to it. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}
const onDisk = (url: string): string => join(suite.dav.root, url.slice(suite.dav.url.length + 1));


describe('annexd create-sibling-webdav', () => {
  it('annex mode with datalad-next defaults: name from the host, autoenable; push, clone, get', async () => {
    const repo = await dataset('annexmode');
    const url = suite.dav.collection('annexmode');
    const r = await csw(repo, url, ['--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`annexd: warning: ${url} is http://, not https://: the password and the data travel unencrypted\n`);
    const [created, configured] = records(r);
    expect(created).toEqual({ action: 'create-sibling-webdav', status: 'ok', path: repo.path, type: 'dataset', name: '127.0.0.1-storage', url });
    expect(configured).toMatchObject({ action: 'configure-sibling', status: 'ok', name: '127.0.0.1', url: gitUrl(url) });
    const line = await remoteLogLine(repo, '127.0.0.1-storage');
    for (const field of ['type=external', 'externaltype=annexd-webdav', 'encryption=none', 'autoenable=true', `url=${url}`]) expect(line).toContain(` ${field}`);
    expect(line).not.toContain('exporttree');
    expect(await config(repo, 'remote.127.0.0.1.url')).toEqual([gitUrl(url)]);
    expect(await config(repo, 'remote.127.0.0.1.annex-ignore')).toEqual(['true']);
    expect(await config(repo, 'remote.127.0.0.1.datalad-publish-depends')).toEqual(['127.0.0.1-storage']);

    const push = await annexd(repo, ['push', '--to', '127.0.0.1']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^copy\(ok\): data\/one\.txt \(file\) \[to 127\.0\.0\.1-storage\.\.\.\]$/m);
    expect(push.stdout).toMatch(/^publish\(ok\): \. \(dataset\) \[refs\/heads\/main->127\.0\.0\.1:refs\/heads\/main \[new branch\]\]$/m);
    // As datalad-next's annex mode: content keys and the deposit's keys side by side in the collection.
    const names = (await filesBelow(onDisk(url))).map((f) => f.split('/').pop());
    expect(names).toEqual(expect.arrayContaining([await repo.key('data/one.txt'), 'XDLRA--refs', 'XDLRA--repo-export']));
    expect(await cloneAndGet(suite.sandbox, gitUrl(url), 'annexmode-clone', 'data/one.txt', suite.dav.credsEnv)).toBe('one\n');
  });

  it('filetree mode: the files under their names, the history in URL/.datalad-deposit; -s, --storage-name; rendered lines', async () => {
    const repo = await dataset('filetree');
    const url = suite.dav.collection('filetree');
    const r = await csw(repo, `${url}/`, ['-s', 'dav', '--storage-name', 'davfiles', '--mode', 'filetree']);
    expect(r.code, r.stderr).toBe(0);
    const deposit = `${url}/.datalad-deposit`;
    expect(r.stdout).toBe(`create-sibling-webdav(ok): ${url}\nconfigure-sibling(ok): ${gitUrl(deposit)}\n`);
    expect(await remoteLogLine(repo, 'davfiles')).toContain(' exporttree=yes');
    expect(await config(repo, 'remote.dav.datalad-publish-depends')).toEqual(['davfiles']);

    const push = await annexd(repo, ['push', '--to', 'dav']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const files = await filesBelow(onDisk(url));
    expect(files.filter((f) => !f.startsWith('.datalad-deposit/'))).toEqual(['data/one.txt']);
    expect(files.some((f) => f.startsWith('.datalad-deposit/') && f.endsWith('/XDLRA--refs'))).toBe(true);
    expect(await cloneAndGet(suite.sandbox, gitUrl(deposit), 'filetree-clone', 'data/one.txt', suite.dav.credsEnv)).toBe('one\n');
  });

  it('annex-only and filetree-only make the storage sibling only; git-only the git sibling only', async () => {
    const a = await dataset('annexonly');
    const ar = await csw(a, suite.dav.collection('annexonly'), ['-s', 'x', '--mode', 'annex-only', '--json']);
    expect(ar.code, ar.stderr).toBe(0);
    expect(records(ar).map((x) => [x.action, x.name])).toEqual([['create-sibling-webdav', 'x-storage']]);
    expect((await a.run('git', ['remote'])).stdout.trim()).toBe('x-storage');

    const f = await dataset('filetreeonly');
    const fr = await csw(f, suite.dav.collection('filetreeonly'), ['-s', 'x', '--mode', 'filetree-only', '--json']);
    expect(fr.code, fr.stderr).toBe(0);
    expect(records(fr).map((x) => x.action)).toEqual(['create-sibling-webdav']);
    expect(await remoteLogLine(f, 'x-storage')).toContain(' exporttree=yes');

    const g = await dataset('gitonly');
    const url = suite.dav.collection('gitonly');
    const gr = await csw(g, url, ['-s', 'x', '--mode', 'git-only', '--json']);
    expect(gr.code, gr.stderr).toBe(0);
    expect(records(gr).map((x) => [x.action, x.name])).toEqual([['configure-sibling', 'x']]);
    expect(existsSync(join(g.path, '.git', 'annexd-gitremote'))).toBe(false);
    expect(await remoteLogLine(g, 'x-storage')).toBe('');
    expect(await config(g, 'remote.x.url')).toEqual([gitUrl(url)]);
    expect(await config(g, 'remote.x.datalad-publish-depends')).toEqual([]);
  });

  it('--existing error refuses, skip skips, reconfigure points both siblings at a new URL', async () => {
    const repo = await dataset('existing');
    const first = suite.dav.collection('existing');
    expect((await csw(repo, first, ['-s', 'pub'])).code).toBe(0);
    const again = await csw(repo, first, ['-s', 'pub']);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(`create-sibling-webdav(error): pub [a sibling 'pub' is already configured in dataset ${repo.path}]`);
    const skip = await csw(repo, first, ['-s', 'pub', '--existing', 'skip', '--json']);
    expect(skip.code, skip.stderr).toBe(0);
    expect(records(skip).map((x) => [x.name, x.status])).toEqual([
      ['pub', 'notneeded'],
      ['pub-storage', 'notneeded'],
    ]);

    const second = suite.dav.collection('existing-moved');
    const re = await csw(repo, second, ['-s', 'pub', '--existing', 'reconfigure', '--json']);
    expect(re.code, re.stdout + re.stderr).toBe(0);
    expect(records(re)[0]).toMatchObject({ status: 'ok', name: 'pub-storage', message: 'reconfigured' });
    expect(await remoteLogLine(repo, 'pub-storage')).toContain(` url=${second}`);
    expect(await config(repo, 'remote.pub.url')).toEqual([gitUrl(second)]);
    const push = await annexd(repo, ['push', '--to', 'pub']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect((await filesBelow(onDisk(second))).map((f) => f.split('/').pop())).toContain(await repo.key('data/one.txt'));
  });

  it('a wrong password, an unreachable server, a bad URL, bad options: one clear line, nothing configured', async () => {
    const repo = await dataset('refused');
    const secret = 'wrong-password-f00d';
    const wrong = await csw(repo, suite.dav.collection('refused'), [], { WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: secret });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^create-sibling-webdav\(error\): http:[^ ]+ \[git annex initremote 127\.0\.0\.1-storage failed: [^\n]*; nothing was configured\]\n$/);
    expect(wrong.stdout + wrong.stderr).not.toContain(secret);
    const gitOnlyWrong = await csw(repo, suite.dav.collection('refused'), ['--mode', 'git-only'], { WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: secret });
    expect(gitOnlyWrong.code).toBe(1);
    expect(gitOnlyWrong.stdout).toMatch(/^create-sibling-webdav\(error\): http:[^ ]+ \[the deposit cannot be reached: [^\n]*; nothing was configured\]\n$/);
    const unreachable = await csw(repo, 'http://127.0.0.1:1/dav');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toMatch(/^create-sibling-webdav\(error\): http:\/\/127\.0\.0\.1:1\/dav \[git annex initremote 127\.0\.0\.1-storage failed: [^\n]+\]\n$/);

    for (const [url, why] of [
      [`${suite.dav.url}/x?a=1`, 'the URL must not have a query'],
      [`${suite.dav.url}/x#frag`, 'the URL must not have a fragment'],
      ['ftp://host/x', 'only http:// and https:// WebDAV URLs are supported, not ftp:'],
      ['not a url', 'is not a URL'],
      ['http://[::1]:1/dav', `the URL's host name "[::1]" is not a usable sibling name`],
    ] as const) {
      const r = await csw(repo, url);
      expect(r.code, url).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^annexd: [^\\n]*${why.replace(/[?#.:/[\]]/g, '\\$&')}[^\\n]*\\n$`));
    }
    const same = await csw(repo, suite.dav.collection('same'), ['-s', 'a', '--storage-name', 'a']);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/^annexd: the storage sibling needs a name of its own/);
    const badMode = await csw(repo, suite.dav.url, ['--mode', 'tree']);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toMatch(/--mode must be one of "annex", "filetree", "annex-only", "filetree-only", "git-only", not "tree"/);
    expect((await repo.run('git', ['remote'])).stdout).toBe('');
    expect(await remoteLogLine(repo, '127.0.0.1-storage')).toBe('');
    const help = await csw(repo, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: annexd create-sibling-webdav URL/);
  });
});

/**
 * Issue 8.2 and 8.9: which credential a repository uses is its own choice, and
 * a clone with no credentials can still enable the remote (only transfers
 * need them), through real git-annex, s3rver, lighttpd and DataLad.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { initS3Remote, startTestS3, type TestS3 } from '../support/s3.js';
import { initDavRemote, startTestDav, type TestDav } from '../support/webdav.js';
import { requireTool } from '../support/tools.js';

let sandbox: Sandbox;
let s3: TestS3;
let dav: TestDav;

beforeAll(async () => {
  sandbox = await createSandbox();
  [s3, dav] = await Promise.all([startTestS3(sandbox.dir), startTestDav('lighttpd', sandbox.dir)]);
});
afterAll(async () => {
  await Promise.all([s3?.stop(), dav?.stop()]);
  await sandbox?.cleanup();
});

/** The key pair as an annexd credential named `name`, defined in the environment only. */
const asCredential = (name: string): NodeJS.ProcessEnv => ({
  [`ANNEXD_CREDENTIAL_${name.toUpperCase()}_KEY_ID`]: s3.accessKeyId,
  [`ANNEXD_CREDENTIAL_${name.toUpperCase()}_SECRET`]: s3.secretAccessKey,
});

const remoteLog = async (repo: AnnexRepo): Promise<string> => (await repo.ok('git', 'cat-file', 'blob', 'git-annex:remote.log')).stdout;

/** Puts `extra` on the remote's line in remote.log, as annexd before this change (or a hand edit) left it. */
async function addToRemoteLog(repo: AnnexRepo, uuid: string, extra: string): Promise<void> {
  await repo.ok('git', 'annex', 'merge');
  const log = (await remoteLog(repo))
    .split('\n')
    .map((l) => (l.startsWith(uuid) ? l.replace(' timestamp=', ` ${extra} timestamp=`).replace(/timestamp=(\d+)/, (_m, t: string) => `timestamp=${Number(t) + 1}`) : l))
    .join('\n');
  const r = await repo.run('sh', ['-c', 'printf "%s\\n" "$LOG" | git hash-object -w --stdin'], { LOG: log.trim() });
  const tree = await repo.run('sh', ['-c', `git ls-tree git-annex | grep -v '\tremote.log$' | { cat; printf '100644 blob %s\\tremote.log\\n' ${r.stdout.trim()}; } | git mktree`]);
  const commit = await repo.run('git', ['commit-tree', tree.stdout.trim(), '-p', 'git-annex', '-m', 'remote.log as older annexd wrote it']);
  await repo.ok('git', 'update-ref', 'refs/heads/git-annex', commit.stdout.trim());
}

describe('credential=NAME is the repository\'s own choice (issue 8.2)', () => {
  it('given at enableremote in a clone, it stays there: the original keeps using its remembered pair', async () => {
    const a = await AnnexRepo.create(sandbox, 'orig');
    await initS3Remote(a, s3, 'store');
    const uuid = (await a.ok('git', 'config', 'remote.store.annex-uuid')).stdout.trim();
    await a.write('a.txt', 'from a\n');
    await a.commitAll();

    const b = await AnnexRepo.clone(sandbox, a, 'work-laptop');
    await b.okEnv(asCredential('work'), 'git', 'annex', 'enableremote', 'store', 'credential=work');
    await b.write('b.txt', 'from b\n');
    await b.commitAll();
    await b.okEnv(asCredential('work'), 'git', 'annex', 'copy', '--to', 'store', 'b.txt');
    // Kept in the clone, owner-only, and nowhere in the git-annex branch.
    const local = join(b.path, '.git', 'annex', 'annexd', 'remotes', `${uuid}.json`);
    expect(JSON.parse(await readFile(local, 'utf8'))).toEqual({ credential: 'work' });
    expect((await b.ok('stat', '-c', '%a', local)).stdout.trim()).toBe('600');
    await b.ok('git', 'annex', 'merge');
    expect(await remoteLog(b)).not.toMatch(/credential=work/);

    // The original merges the clone's branch and goes on with its own credentials.
    await a.ok('git', 'remote', 'add', 'laptop', b.path);
    await a.ok('git', 'fetch', '-q', 'laptop');
    await a.ok('git', 'annex', 'merge');
    expect(await remoteLog(a)).not.toMatch(/credential=work/);
    await a.ok('git', 'annex', 'copy', '--to', 'store', 'a.txt');
    await a.ok('git', 'annex', 'fsck', '--fast', '--from', 'store', 'a.txt');
    // And the clone keeps its choice: without "work" defined it cannot transfer.
    const r = await b.run('git', ['annex', 'fsck', '--fast', '--from', 'store', 'b.txt']);
    expect(r.stdout + r.stderr).toMatch(/credential "work" not found: create it with "annexd credentials set work key_id=YOUR_KEY_ID"/);
  });

  it('a credential name given by mistake is an error where it was given', async () => {
    const a = await AnnexRepo.create(sandbox, 'typo');
    await initS3Remote(a, s3, 'store');
    const r = await a.run('git', ['annex', 'enableremote', 'store', 'credential=wrok'], asCredential('work'));
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/credential "wrok" not found/);
  });

  it('a name already in the git-annex branch (older annexd) is only a default: used where it exists, ignored elsewhere', async () => {
    const a = await AnnexRepo.create(sandbox, 'legacy');
    await initS3Remote(a, s3, 'store');
    const uuid = (await a.ok('git', 'config', 'remote.store.annex-uuid')).stdout.trim();
    await addToRemoteLog(a, uuid, 'credential=work');
    expect(await remoteLog(a)).toMatch(/credential=work/);
    await a.write('l.txt', 'legacy\n');
    await a.commitAll();
    // No "work" here: the remembered pair serves, instead of failing with "not found".
    const copied = await a.run('git', ['annex', '--debug', 'copy', '--to', 'store', 'l.txt']);
    expect(copied.code, copied.stdout + copied.stderr).toBe(0);
    expect(copied.stderr).toMatch(/credential=work from the git-annex branch is not usable in this repository: ignored/);
    // Where "work" exists it is used (a wrong secret proves it is the one tried).
    const wrong = { ...asCredential('work'), ANNEXD_CREDENTIAL_WORK_SECRET: 'not-the-secret' };
    const r = await a.run('git', ['annex', 'fsck', '--fast', '--from', 'store', 'l.txt'], wrong);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/secret key does not match/);
  });
});

describe('a clone without credentials (issue 8.9)', () => {
  it('S3: autoenable enables the remote; get then names how to provide credentials; with them it works', async () => {
    const a = await AnnexRepo.create(sandbox, 's3-origin');
    await initS3Remote(a, s3, 'pub', ['autoenable=true']);
    await a.write('data.txt', 'shared data\n');
    await a.commitAll();
    await a.ok('git', 'annex', 'move', '--to', 'pub', 'data.txt');

    const c = await AnnexRepo.clone(sandbox, a, 's3-clone');
    // AnnexRepo.clone ran "git annex init": autoenable happened there.
    expect((await c.ok('git', 'config', 'remote.pub.annex-uuid')).stdout.trim()).not.toBe('');
    const get = await c.run('git', ['annex', 'get', 'data.txt']);
    expect(get.code).not.toBe(0);
    expect(get.stdout + get.stderr).toMatch(/no S3 credentials: store them with "annexd credentials set NAME key_id=YOUR_KEY_ID"/);
    await c.okEnv(s3.credsEnv, 'git', 'annex', 'get', '--from', 'pub', 'data.txt');
    expect(await readFile(join(c.path, 'data.txt'), 'utf8')).toBe('shared data\n');
  });

  it('S3: a first initremote without credentials still fails (nothing was ever checked)', async () => {
    const a = await AnnexRepo.create(sandbox, 's3-first');
    const r = await a.run('git', ['annex', 'initremote', 'x', 'type=external', 'externaltype=annexd-s3', 'encryption=none', 'bucket=b1', `endpoint=${s3.endpoint}`]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/no S3 credentials/);
  });

  it('WebDAV: enableremote without credentials works; get names WEBDAV_USERNAME/annexd credentials', async () => {
    const a = await AnnexRepo.create(sandbox, 'dav-origin');
    await initDavRemote(a, dav, 'dav');
    await a.write('d.txt', 'dav data\n');
    await a.commitAll();
    await a.ok('git', 'annex', 'move', '--to', 'dav', 'd.txt');
    const c = await AnnexRepo.clone(sandbox, a, 'dav-clone');
    const en = await c.run('git', ['annex', 'enableremote', 'dav']);
    expect(en.code, en.stdout + en.stderr).toBe(0);
    expect(en.stdout + en.stderr).toMatch(/enabled without checking the server: .*needs credentials \(HTTP 401\)/);
    const get = await c.run('git', ['annex', 'get', 'd.txt']);
    expect(get.code).not.toBe(0);
    expect(get.stdout + get.stderr).toMatch(/needs credentials \(HTTP 401\): set WEBDAV_USERNAME and WEBDAV_PASSWORD/);
    await c.okEnv(dav.credsEnv, 'git', 'annex', 'get', 'd.txt');
  });

  it('DataLad: datalad clone + datalad get reaches annexd and shows its message', async () => {
    requireTool('datalad', 'apt-get install -y datalad');
    const a = await AnnexRepo.create(sandbox, 'dl-origin');
    await initS3Remote(a, s3, 'pub', ['autoenable=true']);
    await a.write('x.txt', 'dl data\n');
    await a.commitAll();
    // The storage remote holds the only copy, so a get must go through it.
    await a.ok('git', 'annex', 'move', '--to', 'pub', 'x.txt');
    const target = join(sandbox.dir, 'dl-clone');
    const cl = await a.run('datalad', ['clone', a.path, target]);
    expect(cl.code, cl.stdout + cl.stderr).toBe(0);
    const clone = new AnnexRepo(target, sandbox.env);
    await clone.ok('git', 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
    const get = await clone.run('datalad', ['get', 'x.txt']);
    expect(get.code).not.toBe(0);
    expect(get.stdout + get.stderr).toMatch(/no S3 credentials/);
    const ok = await clone.run('datalad', ['get', 'x.txt'], s3.credsEnv);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });
});

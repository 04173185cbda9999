/**
 * `annexd create-sibling-s3` against the embedded S3 server: the storage
 * sibling in remote.log (autoenable), the git sibling's config and URL, a
 * push that puts content and history in the bucket apart from each other, a
 * clone from the git sibling's URL that gets the content, each mode,
 * --existing, and refusals that configure nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../src/util/exec.js';
import { AnnexRepo } from '../support/annex.js';
import { cloneAndGet, config, records, remoteLogLine } from '../support/create-sibling.js';
import { useS3Suite } from '../support/s3.js';
import { BIN_DIR } from '../support/tools.js';

const suite = useS3Suite();

async function dataset(name: string): Promise<AnnexRepo> {
  const repo = await AnnexRepo.create(suite.sandbox, name);
  await repo.write('data/one.txt', 'one\n');
  await repo.write('README', 'readme\n');
  await repo.commitAll();
  return repo;
}

const annexd = (repo: AnnexRepo, args: string[], env: NodeJS.ProcessEnv = suite.s3.credsEnv): Promise<ExecResult> =>
  repo.run(join(BIN_DIR, 'annexd'), args, env);
const cs3 = (repo: AnnexRepo, name: string, bucket: string, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<ExecResult> =>
  annexd(repo, ['create-sibling-s3', name, '--bucket', bucket, '--endpoint', suite.s3.endpoint, ...args], env);



describe('annexd create-sibling-s3', () => {
  it('annex mode: storage sibling with autoenable, git sibling with its deposit apart; push, clone, get', async () => {
    const repo = await dataset('annexmode');
    const bucket = suite.s3.bucket('annexmode');
    const r = await cs3(repo, 'pub', bucket, ['--json']);
    expect(r.code, r.stderr).toBe(0);
    const [created, configured] = records(r);
    expect(created).toEqual({ action: 'create-sibling-s3', status: 'ok', path: repo.path, type: 'dataset', name: 'pub-storage', url: `s3://${bucket}/` });
    const url = `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=${bucket}&endpoint=${suite.s3.endpoint}&prefix=.datalad-deposit/`;
    expect(configured).toMatchObject({ action: 'configure-sibling', status: 'ok', name: 'pub', url });

    const line = await remoteLogLine(repo, 'pub-storage');
    for (const field of ['type=external', 'externaltype=annexd-s3', 'encryption=none', 'autoenable=true', `bucket=${bucket}`, `endpoint=${suite.s3.endpoint}`]) expect(line).toContain(` ${field}`);
    expect(line).not.toContain('exporttree');
    expect(line).not.toContain('prefix=');
    expect(await config(repo, 'remote.pub.url')).toEqual([url]);
    expect(await config(repo, 'remote.pub.annex-ignore')).toEqual(['true']);
    expect(await config(repo, 'remote.pub.datalad-publish-depends')).toEqual(['pub-storage']);
    // initremote made the bucket, empty so far.
    expect(await suite.s3.list(bucket)).toEqual([]);

    const push = await annexd(repo, ['push', '--to', 'pub']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^copy\(ok\): data\/one\.txt \(file\) \[to pub-storage\.\.\.\]$/m);
    expect(push.stdout).toMatch(/^publish\(ok\): \. \(dataset\) \[refs\/heads\/main->pub:refs\/heads\/main \[new branch\]\]$/m);
    const objects = await suite.s3.list(bucket);
    // The content's keys flat at the bucket's root, the deposit only below .datalad-deposit/.
    expect(objects.filter((o) => !o.startsWith('.datalad-deposit/'))).toEqual([await repo.key('data/one.txt'), await repo.key('README')].sort());
    const deposit = objects.filter((o) => o.startsWith('.datalad-deposit/'));
    expect(deposit.some((o) => o.endsWith('/XDLRA--refs'))).toBe(true);
    expect(deposit.some((o) => o.endsWith('/XDLRA--repo-export'))).toBe(true);
    expect(objects.filter((o) => o.includes('XDLRA') && !o.startsWith('.datalad-deposit/'))).toEqual([]);

    expect(await cloneAndGet(suite.sandbox, url, 'annexmode-clone', 'data/one.txt', suite.s3.credsEnv)).toBe('one\n');
  });

  it('export mode with --prefix and --public-url: the tree below the prefix, the deposit in its own folder; rendered lines', async () => {
    const repo = await dataset('exportmode');
    const bucket = suite.s3.bucket('exportmode');
    const r = await cs3(repo, 's3', bucket, ['--mode', 'export', '--prefix', 'study/', '--public-url', `${suite.s3.endpoint}/${bucket}`]);
    expect(r.code, r.stderr).toBe(0);
    const url = `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=${bucket}&endpoint=${suite.s3.endpoint}&publicurl=${suite.s3.endpoint}/${bucket}&prefix=study/.datalad-deposit/`;
    expect(r.stdout).toBe(`create-sibling-s3(ok): s3://${bucket}/study/\nconfigure-sibling(ok): ${url}\n`);
    const line = await remoteLogLine(repo, 's3-storage');
    for (const field of ['exporttree=yes', 'prefix=study/', 'autoenable=true', `publicurl=${suite.s3.endpoint}/${bucket}`]) expect(line).toContain(` ${field}`);

    const push = await annexd(repo, ['push', '--to', 's3']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const objects = await suite.s3.list(bucket);
    expect(objects.filter((o) => !o.startsWith('study/.datalad-deposit/'))).toEqual(['study/README', 'study/data/one.txt']);
    expect(objects.some((o) => o.startsWith('study/.datalad-deposit/') && o.endsWith('/XDLRA--refs'))).toBe(true);
    expect(await cloneAndGet(suite.sandbox, url, 'exportmode-clone', 'data/one.txt', suite.s3.credsEnv)).toBe('one\n');
  });

  it('gitonly: no storage sibling, no dependency; the bucket is made and the history pushed', async () => {
    const repo = await dataset('gitonly');
    const bucket = suite.s3.bucket('gitonly');
    const r = await cs3(repo, 'hist', bucket, ['--mode', 'gitonly', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(records(r).map((x) => x.action)).toEqual(['configure-sibling']);
    // The deposit was checked from outside the dataset: no helper cache left in it.
    expect(existsSync(join(repo.path, '.git', 'annexd-gitremote'))).toBe(false);
    expect(await remoteLogLine(repo, 'hist-storage')).toBe('');
    expect(await config(repo, 'remote.hist.datalad-publish-depends')).toEqual([]);
    expect(await config(repo, 'remote.hist.annex-ignore')).toEqual(['true']);
    const push = await annexd(repo, ['push', '--to', 'hist']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(push.stdout).not.toMatch(/^copy/m);
    const objects = await suite.s3.list(bucket);
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.every((o) => o.startsWith('.datalad-deposit/'))).toBe(true);
  });

  it('--existing error refuses, --existing skip skips and creates nothing', async () => {
    const repo = await dataset('existing');
    const bucket = suite.s3.bucket('existing');
    expect((await cs3(repo, 'pub', bucket)).code).toBe(0);
    const again = await cs3(repo, 'pub', suite.s3.bucket('existing2'));
    expect(again.code).toBe(1);
    expect(again.stdout).toBe(
      `create-sibling-s3(error): pub [a sibling 'pub' is already configured in dataset ${repo.path}]\n` +
        `create-sibling-s3(error): pub-storage [a sibling 'pub-storage' is already configured in dataset ${repo.path}]\n`,
    );
    const skip = await cs3(repo, 'pub', suite.s3.bucket('existing3'), ['--existing', 'skip', '--json']);
    expect(skip.code, skip.stderr).toBe(0);
    expect(records(skip).map((x) => [x.name, x.status])).toEqual([
      ['pub', 'notneeded'],
      ['pub-storage', 'notneeded'],
    ]);
    expect((await repo.run('git', ['remote'])).stdout.trim().split('\n').sort()).toEqual(['pub', 'pub-storage']);
  });

  it('wrong credentials, an unreachable endpoint, a bad bucket, bad options: one clear line, nothing configured', async () => {
    const repo = await dataset('refused');
    const secret = 'wrong-secret-f00d';
    const wrong = await cs3(repo, 'pub', suite.s3.bucket('refused'), [], { AWS_ACCESS_KEY_ID: suite.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: secret });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^create-sibling-s3\(error\): s3:\/\/[^ ]+ \[git annex initremote pub-storage failed: [^\n]*; nothing was configured\]\n$/);
    expect(wrong.stdout + wrong.stderr).not.toContain(secret);

    const gitonlyWrong = await cs3(repo, 'pub', suite.s3.bucket('refused'), ['--mode', 'gitonly'], { AWS_ACCESS_KEY_ID: suite.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: secret });
    expect(gitonlyWrong.code).toBe(1);
    expect(gitonlyWrong.stdout).toMatch(/^create-sibling-s3\(error\): s3:\/\/[^ ]+ \[the deposit cannot be reached: [^\n]*; nothing was configured\]\n$/);

    const unreachable = await annexd(repo, ['create-sibling-s3', 'pub', '--bucket', 'b-unreachable', '--endpoint', 'http://127.0.0.1:1']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toMatch(/^create-sibling-s3\(error\): s3:\/\/b-unreachable\/ \[git annex initremote pub-storage failed: [^\n]*127\.0\.0\.1:1[^\n]*; nothing was configured\]\n$/);

    const badBucket = await cs3(repo, 'pub', 'a/b');
    expect(badBucket.code).toBe(1);
    expect(badBucket.stderr).toMatch(/^annexd: --bucket "a\/b": "a\/b" is not a bucket name[^\n]*\n$/);
    const badEndpoint = await annexd(repo, ['create-sibling-s3', 'pub', '--bucket', 'b', '--endpoint', 'ftp://x']);
    expect(badEndpoint.code).toBe(1);
    expect(badEndpoint.stderr).toMatch(/^annexd: --endpoint "ftp:\/\/x": [^\n]+\n$/);
    const badMode = await cs3(repo, 'pub', 'b', ['--mode', 'tree']);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toMatch(/--mode must be one of "annex", "export", "gitonly", not "tree"/);
    const noBucket = await annexd(repo, ['create-sibling-s3', 'pub']);
    expect(noBucket.code).toBe(2);
    expect(noBucket.stderr).toMatch(/needs --bucket BUCKET/);
    expect((await repo.run('git', ['remote'])).stdout).toBe('');
    expect(await remoteLogLine(repo, 'pub-storage')).toBe('');

    const help = await annexd(repo, ['create-sibling-s3', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: annexd create-sibling-s3 NAME --bucket BUCKET/);
  });
});

/**
 * annexd-s3 finding its credentials through the lookup chain, with no AWS_*
 * variables: annexd's store (by name, or by realm), the user's git credential
 * helpers, DataLad's credentials. The secret is a random sentinel that must
 * appear nowhere a user or another process could see it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { AnnexRepo } from '../support/annex.js';
import { filesContaining } from '../support/files.js';
import { useS3Suite } from '../support/s3.js';
import { BIN_DIR } from '../support/tools.js';

const SENTINEL = `sentinel-${randomBytes(12).toString('hex')}`;
const suite = useS3Suite(SENTINEL);

const remoteArgs = (name: string, bucket: string, ...extra: string[]): string[] => [
  'annex', 'initremote', name, 'type=external', 'externaltype=annexd-s3', 'encryption=none', `bucket=${bucket}`, `endpoint=${suite.s3.endpoint}`, ...extra,
];


async function roundTrip(repo: AnnexRepo, remote: string): Promise<string> {
  const outputs: string[] = [];
  const keep = (r: { stdout: string; stderr: string }): void => void outputs.push(r.stdout, r.stderr);
  await repo.write(`${remote}/data.bin`, randomBytes(50_000));
  await repo.commitAll();
  keep(await repo.ok('git', 'annex', '--debug', 'copy', '--to', remote, remote));
  keep(await repo.ok('git', 'annex', '--debug', 'drop', remote));
  keep(await repo.ok('git', 'annex', '--debug', 'get', remote));
  return outputs.join('\n');
}

describe('S3 credentials from the lookup chain (no AWS_* variables)', () => {
  it('uses a credential stored with "annexd credentials set", and never shows its secret', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'stored');
    const set = await exec(join(BIN_DIR, 'annexd'), ['credentials', 'set', 'lab', `key_id=${suite.s3.accessKeyId}`], {
      env: repo.env,
      input: SENTINEL,
    });
    expect(set.code, set.stderr).toBe(0);
    const init = await repo.ok('git', '--no-pager', ...remoteArgs('lab', suite.s3.bucket('lab'), 'credential=lab'));
    const out = init.stdout + init.stderr + (await roundTrip(repo, 'lab'));
    expect(out).toMatch(/get lab\/data\.bin .*ok/s);

    expect(out).not.toContain(SENTINEL);
    expect(await readFile(join(repo.path, '.git', 'config'), 'utf8')).not.toContain(SENTINEL);
    expect((await repo.ok('git', 'log', '-p', 'git-annex')).stdout).not.toContain(SENTINEL);
    // Only the credential store's own secrets file holds it, owner-only; nothing in the repository.
    const holders = [...(await filesContaining(repo.env.HOME as string, SENTINEL)), ...(await filesContaining(repo.path, SENTINEL))];
    expect(holders.map((p) => p.replace(repo.env.HOME as string, '~'))).toEqual(['~/.config/annexd/secrets.json']);
    expect((await stat(holders[0] as string)).mode & 0o077).toBe(0);
  });

  it('names the command to run when credential=NAME does not exist', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'missing');
    const r = await repo.run('git', remoteArgs('nope', suite.s3.bucket('nope'), 'credential=not-there'));
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/credential "not-there" not found: create it with "annexd credentials set not-there key_id=YOUR_KEY_ID"/);
  });

  it('finds a stored credential by realm (the endpoint host) without credential=', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'realm');
    const host = new URL(suite.s3.endpoint).host;
    await exec(join(BIN_DIR, 'annexd'), ['credentials', 'set', 'by-host', `key_id=${suite.s3.accessKeyId}`, `realm=${host}`], {
      env: repo.env,
      input: SENTINEL,
    });
    await repo.ok('git', ...remoteArgs('realm', suite.s3.bucket('realm')));
    expect(await roundTrip(repo, 'realm')).not.toContain(SENTINEL);
  });

  it("uses the user's git credential helper for the endpoint", async () => {
    const sandbox = suite.sandbox;
    const repo = await AnnexRepo.create(sandbox, 'gitcred');
    const home = repo.env.HOME as string;
    // A separate HOME: the store above must not answer for this test.
    const env = { HOME: join(sandbox.dir, 'gitcred-home') };
    await exec('mkdir', ['-p', env.HOME]);
    const r0 = new AnnexRepo(repo.path, { ...repo.env, ...env });
    await r0.ok('git', 'config', '--global', 'credential.helper', `store --file=${env.HOME}/git-credentials`);
    const u = new URL(suite.s3.endpoint);
    await r0.ok('git', 'config', '--global', 'user.name', 'x');
    await exec('sh', ['-c', `printf '%s\\n' "http://${suite.s3.accessKeyId}:${SENTINEL}@${u.host}" > "${env.HOME}/git-credentials"; chmod 600 "${env.HOME}/git-credentials"`]);
    await r0.ok('git', ...remoteArgs('gitcred', suite.s3.bucket('gitcred')));
    expect(await roundTrip(r0, 'gitcred')).not.toContain(SENTINEL);
    expect(home).not.toBe(env.HOME);
  });

  it('uses an AWS profile (AWS_PROFILE and ~/.aws/credentials) for the lean requests and the SDK alike', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'profile');
    const home = join(suite.sandbox.dir, 'profile-home');
    await mkdir(join(home, '.aws'), { recursive: true });
    await writeFile(join(home, '.aws', 'credentials'), `[lab]\naws_access_key_id = ${suite.s3.accessKeyId}\naws_secret_access_key = ${SENTINEL}\n`, { mode: 0o600 });
    const r0 = new AnnexRepo(repo.path, { ...repo.env, HOME: home, AWS_PROFILE: 'lab' });
    await r0.ok('git', 'config', '--global', 'user.name', 'x');
    await r0.ok('git', 'config', '--global', 'user.email', 'x@example.org');
    await r0.ok('git', ...remoteArgs('prof', suite.s3.bucket('prof')));
    // 50 kB goes on the lean path (PUT, HEAD, GET, DELETE); 3 MiB streams through the SDK.
    const out = await roundTrip(r0, 'prof');
    await r0.write('prof/big.bin', randomBytes(3 * 1024 * 1024));
    await r0.commitAll();
    await r0.ok('git', 'annex', 'copy', '--to', 'prof', 'prof/big.bin');
    await r0.ok('git', 'annex', 'drop', 'prof');
    await r0.ok('git', 'annex', 'get', 'prof');
    await r0.ok('git', 'annex', 'fsck', '--from', 'prof', 'prof');
    await r0.ok('git', 'annex', 'drop', '--from', 'prof', 'prof/data.bin');
    expect((await r0.ok('git', 'annex', 'find', '--in', 'prof', 'prof')).stdout.trim()).toBe('prof/big.bin');
    expect(out).not.toContain(SENTINEL);
  });

  it("uses DataLad's credential of the same name", async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'datalad');
    const r0 = new AnnexRepo(repo.path, { ...repo.env, DATALAD_CREDENTIAL_DLS3_SECRET: SENTINEL });
    // datalad-next keeps an S3 key id in `user`; the secret comes from DataLad's environment override.
    await r0.ok('git', 'config', 'datalad.credential.dls3.user', suite.s3.accessKeyId);
    await r0.ok('git', ...remoteArgs('dl', suite.s3.bucket('dl'), 'credential=dls3'));
    expect(await roundTrip(r0, 'dl')).not.toContain(SENTINEL);
  });
});

/**
 * annexd-osf finding its token through the lookup chain, with no OSF_TOKEN:
 * annexd's store by name (credential=) or by realm (the API host), and
 * DataLad's token credential of a name. The token is the server's, a random
 * sentinel that must appear nowhere but the store's own secrets file.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { AnnexRepo } from '../support/annex.js';
import { filesContaining } from '../support/files.js';
import { useOsfSuite } from '../support/osf.js';
import { BIN_DIR } from '../support/tools.js';

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const suite = useOsfSuite({ ANNEXD_OSF_PASSWORD: PASSWORD });

const initArgs = (name: string, node: string, ...extra: string[]): string[] => [
  'annex', 'initremote', name, 'type=external', 'externaltype=annexd-osf', 'encryption=none', `api=${suite.osf.api}`, `node=${node}`, ...extra,
];

/** copy, drop, get back: the output of all three (with --debug). */
async function roundTrip(repo: AnnexRepo, remote: string): Promise<string> {
  const outputs: string[] = [];
  await repo.write(`${remote}/data.bin`, randomBytes(20_000));
  await repo.commitAll();
  for (const args of [['copy', '--to', remote, remote], ['drop', remote], ['get', '--from', remote, remote]]) {
    const r = await repo.ok('git', 'annex', '--debug', ...args);
    outputs.push(r.stdout, r.stderr);
  }
  return outputs.join('\n');
}

describe('OSF tokens from the lookup chain (no OSF_TOKEN)', () => {
  it('uses a token stored with "annexd credentials set NAME" and credential=NAME, shown nowhere', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'named');
    const set = await exec(join(BIN_DIR, 'annexd'), ['credentials', 'set', 'osflab'], { env: repo.env, input: suite.osf.token });
    expect(set.code, set.stderr).toBe(0);
    const init = await repo.ok('git', ...initArgs('lab', await suite.osf.createNode(), 'credential=osflab'));
    const out = init.stdout + init.stderr + (await roundTrip(repo, 'lab'));
    expect(out).toMatch(/as annexd dev user/);
    expect(out).not.toContain(suite.osf.token);
    const holders = [...(await filesContaining(repo.env.HOME as string, suite.osf.token)), ...(await filesContaining(repo.path, suite.osf.token))];
    expect(holders.map((p) => p.replace(repo.env.HOME as string, '~'))).toEqual(['~/.config/annexd/secrets.json']);
    expect((await stat(holders[0]!)).mode & 0o077).toBe(0);
  });

  it('names the command to run when credential=NAME does not exist', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'missing');
    const r = await repo.run('git', initArgs('nope', await suite.osf.createNode(), 'credential=not-there'));
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/credential "not-there" not found: create it with "annexd credentials set not-there realm=127\.0\.0\.1:\d+" \(the OSF token is read from the prompt or stdin\)/);
  });

  it('finds a stored token by realm (the API host) without credential=', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'realm');
    const home = join(suite.sandbox.dir, 'realm-home');
    await exec('mkdir', ['-p', home]);
    const r0 = new AnnexRepo(repo.path, { ...repo.env, HOME: home });
    const set = await exec(join(BIN_DIR, 'annexd'), ['credentials', 'set', 'by-host', `realm=${new URL(suite.osf.api).host}`], { env: r0.env, input: suite.osf.token });
    expect(set.code, set.stderr).toBe(0);
    await r0.ok('git', ...initArgs('realm', await suite.osf.createNode()));
    expect(await roundTrip(r0, 'realm')).not.toContain(suite.osf.token);
  });

  it("uses DataLad's token credential of the name given as credential=", async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'datalad');
    const r0 = new AnnexRepo(repo.path, { ...repo.env, HOME: join(suite.sandbox.dir, 'dl-home'), DATALAD_CREDENTIAL_DLOSF_SECRET: suite.osf.token });
    await exec('mkdir', ['-p', r0.env.HOME as string]);
    await r0.ok('git', 'config', 'datalad.credential.dlosf.type', 'token');
    await r0.ok('git', ...initArgs('dl', await suite.osf.createNode(), 'credential=dlosf'));
    expect(await roundTrip(r0, 'dl')).not.toContain(suite.osf.token);
  });

  it('uses OSF_USERNAME and OSF_PASSWORD as Basic auth (as datalad-osf does), naming a wrong password as such', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'basic');
    const node = await suite.osf.createNode();
    const wrong = await repo.run('git', initArgs('basic', node), { OSF_USERNAME: 'dev@annexd.invalid', OSF_PASSWORD: 'not-it-1234' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(/OSF refused the user name and password from environment \(OSF_USERNAME\) \(HTTP 401: Invalid username\/password\.\): check them/);
    await repo.okEnv({ OSF_USERNAME: 'dev@annexd.invalid', OSF_PASSWORD: PASSWORD }, 'git', ...initArgs('basic', node));
    // Remembered at initremote, in the owner-only file: the round trip needs no variables.
    const out = await roundTrip(repo, 'basic');
    expect(out).not.toContain(PASSWORD);
  });

  it('remembers an OSF_TOKEN given at initremote with embedcreds=yes in git-annex\'s creds, and uses it without the variable', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'embed');
    await repo.okEnv(suite.osf.credsEnv, 'git', ...initArgs('embed', await suite.osf.createNode(), 'embedcreds=yes'));
    await roundTrip(repo, 'embed');
    // git-annex keeps embedded creds in the git-annex branch (that is what embedcreds=yes asks for), not in annexd's file.
    expect(await filesContaining(join(repo.path, '.git', 'annex', 'annexd'), suite.osf.token).catch(() => [])).toEqual([]);
  });
});

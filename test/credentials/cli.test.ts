/**
 * `annexd credentials` as a user runs it: real processes, an isolated HOME,
 * no D-Bus session (so no keyring: the file store, said so).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { BIN_DIR } from '../support/tools.js';

let sandbox: Sandbox;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  sandbox = await createSandbox();
  env = { ...sandbox.env, DBUS_SESSION_BUS_ADDRESS: '' };
});
afterAll(async () => sandbox?.cleanup());

function annexd(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  return exec(join(BIN_DIR, 'annexd'), args, { env: { ...env, ...options.env }, input: options.input ?? '' });
}

const configDir = (): string => join(sandbox.env.HOME as string, '.config', 'annexd');

describe('annexd credentials', () => {
  it('sets from stdin, gets without the secret unless asked, lists, removes', async () => {
    const set = await annexd(['credentials', 'set', 'lab-s3', 'key_id=AKIDLAB', 'realm=s3.lab.example'], { input: 'lab-secret-1\n' });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(
      /^stored credential "lab-s3" in file .*secrets\.json \(plain text, owner-only\); chosen because no Secret Service keyring reachable \(no D-Bus session bus\)\n$/,
    );

    const get = await annexd(['credentials', 'get', 'lab-s3']);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain('key_id: AKIDLAB');
    expect(get.stdout).toContain('store: file');
    expect(get.stdout).not.toContain('lab-secret-1');

    const shown = await annexd(['credentials', 'get', 'lab-s3', '--show-secret', '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: 'lab-s3', store: 'file', props: { key_id: 'AKIDLAB' }, secret: 'lab-secret-1' });
    expect(JSON.parse((await annexd(['credentials', 'get', 'lab-s3', '--json'])).stdout)).not.toHaveProperty('secret');

    const list = await annexd(['credentials', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: 'lab-s3', store: 'file', props: { key_id: 'AKIDLAB', realm: 's3.lab.example' } })]);
    expect((await annexd(['credentials', 'list'])).stdout).toMatch(/lab-s3\s+file\s+key_id=AKIDLAB realm=s3\.lab\.example/);

    // Nothing readable by others; the index has no secret at all.
    expect((await stat(configDir())).mode & 0o077).toBe(0);
    for (const f of ['credentials.json', 'secrets.json']) expect((await stat(join(configDir(), f))).mode & 0o077).toBe(0);
    expect(await readFile(join(configDir(), 'credentials.json'), 'utf8')).not.toContain('lab-secret-1');

    expect((await annexd(['credentials', 'remove', 'lab-s3'])).code).toBe(0);
    const gone = await annexd(['credentials', 'get', 'lab-s3']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^annexd: no credential named "lab-s3"/);
    expect((await readFile(join(configDir(), 'secrets.json'), 'utf8'))).not.toContain('lab-secret-1');
  });

  it('refuses the keyring when none is reachable, instead of falling back silently', async () => {
    const r = await annexd(['credentials', 'set', 'k1', 'user=u', '--store', 'keyring'], { input: 's3cret' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^annexd: system keyring .* cannot be used: no Secret Service keyring reachable/);
  });

  it('gives one clear line for bad input, and stores nothing', async () => {
    const cases: Array<[string[], string, number, RegExp]> = [
      [['credentials', 'set', '../evil', 'user=u'], 'x', 1, /invalid credential name "\.\.\/evil"/],
      [['credentials', 'set', 'ok', 'user=u'], '', 1, /empty secret: nothing stored/],
      [['credentials', 'set', 'ok', 'secret=oops'], 'x', 2, /the secret is not taken from the command line/],
      [['credentials', 'set', 'ok', 'Bad Prop=1'], 'x', 1, /invalid property name "Bad Prop"/],
      [['credentials', 'set', 'ok', 'user=u', '--store', 'cloud'], 'x', 2, /--store must be keyring or file/],
      [['credentials', 'frobnicate'], '', 2, /unknown credentials action "frobnicate"/],
      [['credentials', 'get'], '', 2, /credentials get needs a NAME \(see annexd credentials --help\)/],
      [['credentials', 'set', 'ok', 'user=u', '--show-secret'], 'x', 2, /--show-secret does not apply to credentials set/],
    ];
    for (const [args, input, code, message] of cases) {
      const r = await annexd(args, { input });
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(JSON.parse((await annexd(['credentials', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('encrypts the file store with a passphrase, and says what is wrong without it', async () => {
    const home = join(sandbox.dir, 'enc-home');
    const e = { HOME: home, ANNEXD_CREDENTIALS_PASSPHRASE: 'correct horse' };
    expect((await annexd(['credentials', 'set', 'enc', 'user=u'], { input: 'enc-secret-42', env: e })).code).toBe(0);
    const file = join(home, '.config', 'annexd', 'secrets.json');
    const before = await readFile(file, 'utf8');
    expect(before).not.toContain('enc-secret-42');
    const got = await annexd(['credentials', 'get', 'enc', '--show-secret', '--json'], { env: e });
    expect(JSON.parse(got.stdout).secret).toBe('enc-secret-42');

    const noPass = await annexd(['credentials', 'get', 'enc'], { env: { HOME: home } });
    expect(noPass.code).toBe(1);
    expect(noPass.stderr).toMatch(/is encrypted: set ANNEXD_CREDENTIALS_PASSPHRASE/);
    const wrong = await annexd(['credentials', 'set', 'other', 'user=v'], { input: 'x', env: { HOME: home, ANNEXD_CREDENTIALS_PASSPHRASE: 'wrong' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/wrong passphrase for .*secrets\.json/);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('reports a corrupt index and leaves it untouched', async () => {
    const home = join(sandbox.dir, 'corrupt-home');
    expect((await annexd(['credentials', 'set', 'c1', 'user=u'], { input: 'x1', env: { HOME: home } })).code).toBe(0);
    const index = join(home, '.config', 'annexd', 'credentials.json');
    await writeFile(index, '{"format": "annexd-credentials", "version": 1, "credentials": {', { mode: 0o600 });
    const r = await annexd(['credentials', 'set', 'c2', 'user=u'], { input: 'x2', env: { HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/credentials\.json is corrupt .*left untouched/);
    expect(await readFile(index, 'utf8')).toBe('{"format": "annexd-credentials", "version": 1, "credentials": {');
  });

  it('lets environment variables override or define a credential', async () => {
    const r = await annexd(['credentials', 'get', 'ci-token', '--json', '--show-secret'], {
      env: { ANNEXD_CREDENTIAL_CI_TOKEN_SECRET: 'from-env', ANNEXD_CREDENTIAL_CI_TOKEN_USER: 'bot' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'ci-token', store: 'environment', props: { user: 'bot' }, secret: 'from-env' });
  });

  it('lists credentials defined only in the environment, and overrides as get shows them', async () => {
    const home = join(sandbox.dir, 'env-list-home');
    expect((await annexd(['credentials', 'set', 'stored', 'user=u', 'realm=a.example'], { input: 's1', env: { HOME: home } })).code).toBe(0);
    const e = {
      HOME: home,
      ANNEXD_CREDENTIAL_CI_TOKEN_SECRET: 'from-env-secret',
      ANNEXD_CREDENTIAL_CI_TOKEN_REALM: 'ci.example',
      ANNEXD_CREDENTIAL_STORED_REALM: 'b.example',
    };
    const list = await annexd(['credentials', 'list', '--json'], { env: e });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'stored', store: 'file', props: { user: 'u', realm: 'b.example' } }),
      { name: 'ci_token', store: 'environment', props: { realm: 'ci.example' }, updated: '' },
    ]);
    expect(list.stdout).not.toContain('from-env-secret');
    const text = await annexd(['credentials', 'list'], { env: e });
    expect(text.stdout).toMatch(/^ci_token\s+environment\s+realm=ci\.example$/m);
    // What list names, get finds.
    expect(JSON.parse((await annexd(['credentials', 'get', 'ci_token', '--json'], { env: e })).stdout)).toMatchObject({ store: 'environment' });
    const rm = await annexd(['credentials', 'remove', 'ci_token'], { env: e });
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(/defined only by environment variables \(ANNEXD_CREDENTIAL_CI_TOKEN_\*\): unset them/);
  });

  it('answers a failed --json request with a JSON error object on stdout', async () => {
    const r = await annexd(['credentials', 'get', 'missing-one', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ error: expect.stringMatching(/^no credential named "missing-one"/), exitCode: 1 });
    const removed = await annexd(['credentials', 'remove', 'missing-one', '--json']);
    expect(JSON.parse(removed.stdout)).toMatchObject({ exitCode: 1 });
  });

  it('says remove in JSON when asked', async () => {
    expect((await annexd(['credentials', 'set', 'short-lived', 'user=u'], { input: 'x' })).code).toBe(0);
    const r = await annexd(['credentials', 'remove', 'short-lived', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ name: 'short-lived', removed: true });
  });

  it('keeps every entry when two processes set credentials at the same time', async () => {
    const home = join(sandbox.dir, 'race-home');
    const runs = [];
    for (let p = 0; p < 2; p++) {
      for (let i = 0; i < 8; i++) runs.push(annexd(['credentials', 'set', `race-${p}-${i}`, `user=u${i}`], { input: `s-${p}-${i}`, env: { HOME: home } }));
    }
    for (const r of await Promise.all(runs)) expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse((await annexd(['credentials', 'list', '--json'], { env: { HOME: home } })).stdout) as Array<{ name: string }>;
    expect(list).toHaveLength(16);
    for (let p = 0; p < 2; p++) {
      for (let i = 0; i < 8; i++) {
        const g = await annexd(['credentials', 'get', `race-${p}-${i}`, '--json', '--show-secret'], { env: { HOME: home } });
        expect(JSON.parse(g.stdout).secret).toBe(`s-${p}-${i}`);
      }
    }
  });
});

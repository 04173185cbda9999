/**
 * DataLad credentials as datalad-next and DataLad core leave them: properties
 * in real git config, secrets in the environment or in a real gnome-keyring
 * (written with secret-tool under python-keyring's attributes, as DataLad
 * would), read back by findDataladCredential.
 *
 * Lookups that reach the keyring run inside a private keyring session, never
 * in the test process, so a developer's own keyring is not consulted.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDataladCredential } from '../../src/credentials/datalad.js';
import { CredentialError } from '../../src/credentials/model.js';
import { exec } from '../../src/util/exec.js';
import { distModule, lastJson, nodeScript, requireCredentialsBuild, runInKeyringSession, runWithoutBus } from '../support/keyring.js';
import { requireTool } from '../support/tools.js';

let dir: string;
const sentinel = (): string => `dl-secret-${randomBytes(10).toString('hex')}`;

beforeAll(async () => {
  requireTool('git', 'apt-get install -y git');
  requireCredentialsBuild();
  dir = await mkdtemp(join(tmpdir(), 'annexd-datalad-test-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A HOME whose ~/.gitconfig holds `gitconfig`. */
async function home(gitconfig: string): Promise<string> {
  const h = join(dir, `home-${randomBytes(4).toString('hex')}`);
  await mkdir(h);
  await writeFile(join(h, '.gitconfig'), gitconfig);
  return h;
}

/** Only what git needs: no DATALAD_* or D-Bus variables from the test process. */
function envFor(h: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: h, GIT_CONFIG_NOSYSTEM: '1', LANG: 'C.UTF-8', ...extra };
}

/** python-keyring's SecretService backend: attributes application/service/username, its label. */
function pythonKeyringStore(service: string, username: string, secret: string): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return `printf '%s' ${q(secret)} | secret-tool store --label=${q(`Password for '${username}' on '${service}'`)} application 'Python keyring library' service ${q(service)} username ${q(username)}`;
}

describe('findDataladCredential: git config and environment', () => {
  it('reads properties from global and repository git config, the secret from DATALAD_CREDENTIAL_<NAME>_SECRET', async () => {
    const h = await home('[datalad "credential.gin"]\n\ttype = token\n\trealm = https://gin.g-node.org\n\tlast-used = 2024-01-01T10:00:00\n');
    const repo = join(dir, `repo-${randomBytes(4).toString('hex')}`);
    await mkdir(repo);
    const env = envFor(h);
    expect((await exec('git', ['init', '-q', repo], { env })).code).toBe(0);
    expect((await exec('git', ['config', 'datalad.credential.gin.user', 'repo-user'], { cwd: repo, env })).code).toBe(0);
    const secret = sentinel();

    const c = await findDataladCredential('gin', {
      cwd: repo,
      env: { ...env, DATALAD_CREDENTIAL_GIN_SECRET: secret, DATALAD_CREDENTIAL_GIN_REALM: 'https://override.example' },
    });
    expect(c).toEqual({
      // The environment wins over git config, as in DataLad.
      props: { type: 'token', realm: 'https://override.example', 'last-used': '2024-01-01T10:00:00', user: 'repo-user' },
      secret,
      source: 'DataLad credential "gin" (secret from environment DATALAD_CREDENTIAL_GIN_SECRET)',
    });
    // Outside the repository only the global config counts.
    const outside = await findDataladCredential('gin', { cwd: h, env: { ...env, DATALAD_CREDENTIAL_GIN_SECRET: secret } });
    expect(outside?.props.user).toBeUndefined();
  });

  it('handles names with dots and dashes without mixing in other credentials', async () => {
    const h = await home(
      [
        '[datalad "credential.data.example.org"]\n\tuser = alice\n\ttype = user_password',
        '[datalad "credential.data.example.org.mirror"]\n\tuser = mallory\n\tsecret = mirror-secret',
        '[datalad "credential.dataXexample.org"]\n\tuser = regexp-dot',
        '[datalad "credential.my-s3"]\n\tuser = AKIAEXAMPLE\n\ttype = s3',
        // datalad-next names new credentials <type>-<user>-<realm>: regexp metacharacters are literal.
        '[datalad "credential.webdav-bob-https://dav.example/[x]+(y)"]\n\tuser = bob\n\tsecret = dav-secret',
        '',
      ].join('\n'),
    );
    const secret = sentinel();
    // DataLad's mapping: "_" is ".", "__" is "-".
    const env = envFor(h, { DATALAD_CREDENTIAL_DATA_EXAMPLE_ORG_SECRET: secret, DATALAD_CREDENTIAL_MY__S3_SECRET: `${secret}-s3` });

    expect(await findDataladCredential('data.example.org', { cwd: h, env })).toEqual({
      props: { user: 'alice', type: 'user_password' },
      secret,
      source: 'DataLad credential "data.example.org" (secret from environment DATALAD_CREDENTIAL_DATA_EXAMPLE_ORG_SECRET)',
    });
    expect(await findDataladCredential('data.example.org.mirror', { cwd: h, env })).toEqual({
      props: { user: 'mallory' },
      secret: 'mirror-secret',
      source: 'DataLad credential "data.example.org.mirror" (secret from git config datalad.credential.data.example.org.mirror.secret)',
    });
    expect(await findDataladCredential('my-s3', { cwd: h, env })).toMatchObject({ props: { user: 'AKIAEXAMPLE', type: 's3' }, secret: `${secret}-s3` });
    expect(await findDataladCredential('webdav-bob-https://dav.example/[x]+(y)', { cwd: h, env })).toMatchObject({
      props: { user: 'bob' },
      secret: 'dav-secret',
    });
  });

  it('takes DATALAD_CONFIG_OVERRIDES_JSON and the legacy DATALAD_<name>_<field> variable', async () => {
    const h = await home('');
    const overrides = JSON.stringify({ 'datalad.credential.ovr.secret': 'from-json', 'datalad.credential.ovr.user': ['first', 'last'] });
    expect(await findDataladCredential('ovr', { cwd: h, env: envFor(h, { DATALAD_CONFIG_OVERRIDES_JSON: overrides }) })).toEqual({
      props: { user: 'last' },
      secret: 'from-json',
      source: 'DataLad credential "ovr" (secret from DATALAD_CONFIG_OVERRIDES_JSON (datalad.credential.ovr.secret))',
    });
    // datalad/support/keyring_.py: name kept as is, "-" → "_"; checked before the keyring.
    expect(await findDataladCredential('my-cred', { cwd: h, env: envFor(h, { DATALAD_my_cred_secret: 'legacy-env' }) })).toEqual({
      props: {},
      secret: 'legacy-env',
      source: 'DataLad credential "my-cred" (secret from environment DATALAD_my_cred_secret)',
    });
  });

  it('rejects names git config cannot hold', async () => {
    await expect(findDataladCredential('', {})).rejects.toThrow(CredentialError);
    await expect(findDataladCredential('a\nb', {})).rejects.toThrow(CredentialError);
  });
});

describe('findDataladCredential: DataLad secrets in the system keyring', () => {
  const header = `const { findDataladCredential } = await import(${JSON.stringify(distModule('datalad'))});`;

  it('finds what python-keyring stored: datalad-next layout, legacy fields with a type hint, URL names; absent is undefined', async () => {
    const h = await home('[datalad "credential.gin"]\n\ttype = token\n\trealm = https://gin.g-node.org/\n[datalad "credential.propsonly"]\n\tuser = bob\n');
    const next = sentinel();
    const s3secret = sentinel();
    const osf = sentinel();
    const store = [
      pythonKeyringStore('datalad-gin', 'secret', next),
      // DataLad core < 0.18 (aws-s3): one item per field.
      pythonKeyringStore('datalad-legacy-s3', 'key_id', 'AKIALEGACY'),
      pythonKeyringStore('datalad-legacy-s3', 'secret_id', s3secret),
      pythonKeyringStore('datalad-legacy-s3', 'session', 'session-token'),
      // datalad-osf's legacy token credential.
      pythonKeyringStore('datalad-https://osf.io', 'token', osf),
    ].join(' && ');
    const cmd = await nodeScript(
      dir,
      `${header}
      const opts = { cwd: process.env.HOME };
      return {
        gin: await findDataladCredential('gin', opts),
        legacy: await findDataladCredential('legacy-s3', { ...opts, typeHint: 'aws-s3' }),
        legacyNoHint: (await findDataladCredential('legacy-s3', opts)) ?? null,
        osf: await findDataladCredential('https://osf.io', { ...opts, typeHint: 'token' }),
        propsOnly: (await findDataladCredential('propsonly', opts)) ?? null,
        absent: (await findDataladCredential('nothing-${randomBytes(3).toString('hex')}', opts)) ?? null,
      };`,
    );
    const r = await runInKeyringSession(`${store} && ${cmd}`, {}, { home: h });
    expect(lastJson(r)).toEqual({
      result: {
        gin: {
          props: { type: 'token', realm: 'https://gin.g-node.org/' },
          secret: next,
          source: 'DataLad credential "gin" (secret from system keyring (service "datalad-gin", account "secret"))',
        },
        // datalad-next renames legacy fields on read: key_id → key-id.
        legacy: {
          props: { 'key-id': 'AKIALEGACY', session: 'session-token', type: 'aws-s3' },
          secret: s3secret,
          source: 'DataLad credential "legacy-s3" (secret from system keyring (service "datalad-legacy-s3", account "secret_id"))',
        },
        legacyNoHint: null,
        osf: {
          props: {},
          secret: osf,
          source: 'DataLad credential "https://osf.io" (secret from system keyring (service "datalad-https://osf.io", account "token"))',
        },
        propsOnly: null,
        absent: null,
      },
    });
  });

  it('without a D-Bus session bus, a keyring-held secret is simply not found', async () => {
    const h = await home('[datalad "credential.gin"]\n\ttype = token\n');
    const cmd = await nodeScript(dir, `${header} return (await findDataladCredential('gin', { typeHint: 'token' })) ?? 'not found';`);
    const r = await runWithoutBus(cmd, { HOME: h });
    expect(lastJson(r)).toEqual({ result: 'not found' });
  });
});

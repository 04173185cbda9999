/**
 * KeyringSecretStore against a real gnome-keyring in a private D-Bus session
 * (test/support/keyring.ts); no mocks. Failure cases use real conditions: no
 * bus at all, a bus whose keyring has no default collection, a locked keyring.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyringSecretStore } from '../../src/credentials/keyring-store.js';
import { CredentialError } from '../../src/credentials/model.js';
import { distModule, lastJson, nodeScript, requireCredentialsBuild, runInKeyringSession, runWithoutBus } from '../support/keyring.js';
import { REPO_ROOT } from '../support/tools.js';

const NO_BUS =
  'no Secret Service keyring reachable (no D-Bus session bus); use --store file, or run inside a desktop session';
const LOCKED = 'the keyring is locked; unlock it (e.g. log in to the desktop, or gnome-keyring-daemon --unlock)';

let dir: string;
const sentinel = (): string => `annexd-sentinel-${randomBytes(12).toString('hex')}`;
const header = `const { KeyringSecretStore, readKeyringSecret } = await import(${JSON.stringify(distModule('keyring-store'))});`;

beforeAll(async () => {
  requireCredentialsBuild();
  dir = await mkdtemp(join(tmpdir(), 'annexd-keyring-test-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every file under `root` whose bytes contain `needle`. */
async function filesContaining(root: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    if ((await readFile(p)).includes(needle)) hits.push(p);
  }
  return hits;
}

describe('KeyringSecretStore in a Secret Service session', () => {
  it('sets, reads, overwrites and deletes; absent reads as undefined and deletes as false', async () => {
    const secret = sentinel();
    const cmd = await nodeScript(
      dir,
      `${header}
      const s = new KeyringSecretStore();
      const out = { describe: s.describe(), available: await s.available() };
      out.absent = (await s.getSecret('user@host.example')) ?? null;
      out.deleteAbsent = await s.deleteSecret('user@host.example');
      await s.setSecret('user@host.example', ${JSON.stringify(secret)});
      out.got = await s.getSecret('user@host.example');
      out.otherService = (await new KeyringSecretStore({ service: 'annexd-other' }).getSecret('user@host.example')) ?? null;
      await s.setSecret('user@host.example', ${JSON.stringify(`${secret}-2`)});
      out.overwritten = await s.getSecret('user@host.example');
      out.deleted = await s.deleteSecret('user@host.example');
      out.after = (await s.getSecret('user@host.example')) ?? null;
      out.deleteAgain = await s.deleteSecret('user@host.example');
      return out;`,
    );
    const r = await runInKeyringSession(cmd);
    expect(lastJson(r)).toEqual({
      result: {
        describe: 'system keyring (Secret Service)',
        available: { ok: true },
        absent: null,
        deleteAbsent: false,
        got: secret,
        otherService: null,
        overwritten: `${secret}-2`,
        deleted: true,
        after: null,
        deleteAgain: false,
      },
    });
  });

  it('keeps the secret encrypted on disk, as an ordinary item other tools see, across sessions', async () => {
    const home = join(dir, `home-${randomBytes(4).toString('hex')}`);
    await mkdir(home);
    const password = randomBytes(12).toString('hex');
    const secret = sentinel();
    const set = await nodeScript(dir, `${header} await new KeyringSecretStore().setSecret('alice', ${JSON.stringify(secret)});`);
    const r1 = await runInKeyringSession(`${set} && secret-tool lookup service annexd username alice`, {}, { home, password });
    expect(r1.code, r1.stderr).toBe(0);
    // secret-tool prints the secret after the node script's JSON line.
    expect(r1.stdout.trim().split('\n').pop()).toBe(secret);

    // Written to gnome-keyring's file, never in plain text anywhere under HOME.
    expect(existsSync(join(home, '.local', 'share', 'keyrings', 'login.keyring'))).toBe(true);
    expect(await filesContaining(home, secret)).toEqual([]);

    // A new session (a reboot stand-in; keyutils would have lost it) reads it back.
    const get = await nodeScript(dir, `${header} return await new KeyringSecretStore().getSecret('alice');`);
    const r2 = await runInKeyringSession(get, {}, { home, password });
    expect(lastJson(r2)).toEqual({ result: secret });
  });

  it('reports a locked keyring with the way to unlock it, for the store and for readKeyringSecret', async () => {
    const store = await nodeScript(dir, `${header} await new KeyringSecretStore().setSecret('alice', 'first-secret');`);
    const cmd = await nodeScript(
      dir,
      `${header}
      const s = new KeyringSecretStore();
      const err = async (p) => p.then(() => 'no error', (e) => ({ name: e.name, message: e.message }));
      return {
        get: await err(s.getSecret('alice')),
        set: await err(s.setSecret('alice', 'new-secret-value')),
        read: await err(readKeyringSecret('annexd', 'alice')),
      };`,
    );
    // secret-tool lock crashes after locking (libsecret 0.20 on Debian 12); the lock holds.
    const r = await runInKeyringSession(`${store} && { secret-tool lock --collection=login 2>/dev/null; true; } && ${cmd}`);
    const { result } = lastJson<Record<string, { name: string; message: string }>>(r);
    expect(result?.get).toEqual({ name: 'CredentialError', message: `cannot read credential "alice" from the system keyring (Secret Service): ${LOCKED}` });
    expect(result?.set).toEqual({ name: 'CredentialError', message: `cannot store credential "alice" in the system keyring (Secret Service): ${LOCKED}` });
    expect(result?.read?.name).toBe('CredentialError');
    expect(result?.read?.message).toContain(LOCKED);
    expect(JSON.stringify(result)).not.toContain('new-secret-value');
  });

  it('is not available when the Secret Service has no default keyring (gnome-keyring never unlocked)', async () => {
    const cmd = await nodeScript(
      dir,
      `${header}
      const s = new KeyringSecretStore();
      const available = await s.available();
      const set = await s.setSecret('alice', 'some-secret').then(() => 'stored', (e) => ({ name: e.name, message: e.message }));
      return { available, set, get: (await s.getSecret('alice')) ?? null };`,
    );
    const r = await runInKeyringSession(cmd, {}, { unlock: false });
    const reason =
      'the Secret Service has no default keyring to store into; create and unlock one (e.g. log in to the desktop, or gnome-keyring-daemon --unlock)';
    expect(lastJson(r)).toEqual({
      result: {
        available: { ok: false, reason },
        set: { name: 'CredentialError', message: `cannot store credential "alice" in the system keyring (Secret Service): ${reason}` },
        get: null,
      },
    });
  });
});

describe('KeyringSecretStore without a D-Bus session bus', () => {
  it('is not available, fails set and get with the reason, and never falls back to the kernel keyring', async () => {
    const secret = sentinel();
    const service = `annexd-test-${randomBytes(4).toString('hex')}`;
    const cmd = await nodeScript(
      dir,
      `${header}
      const { createRequire } = await import('node:module');
      const require = createRequire(${JSON.stringify(join(REPO_ROOT, 'package.json'))});
      const Module = require('node:module');
      const bindingLoaded = () => Object.keys(Module._cache).some((k) => k.includes('@napi-rs'));
      const s = new KeyringSecretStore({ service: ${JSON.stringify(service)} });
      const err = async (p) => p.then(() => 'no error', (e) => ({ name: e.name, message: e.message }));
      const out = {
        available: await s.available(),
        set: await err(s.setSecret('alice', ${JSON.stringify(secret)})),
        get: await err(s.getSecret('alice')),
        read: (await readKeyringSecret('datalad-x', 'secret')) ?? null,
        // Without a bus the native binding is not even loaded.
        bindingLoaded: bindingLoaded(),
      };
      // Where the binding's unpinned default would have put it.
      const { Entry } = require('@napi-rs/keyring');
      const peek = (opts) => { try { return new Entry(${JSON.stringify(service)}, 'alice', opts).getPassword() ?? null; } catch { return null; } };
      out.inKeyutils = peek({ linux: { store: 'keyutils' } });
      out.inDefault = peek(undefined);
      return out;`,
    );
    const r = await runWithoutBus(cmd);
    expect(lastJson(r)).toEqual({
      result: {
        available: { ok: false, reason: NO_BUS },
        set: { name: 'CredentialError', message: `cannot store credential "alice" in the system keyring (Secret Service): ${NO_BUS}` },
        get: { name: 'CredentialError', message: `cannot read credential "alice" from the system keyring (Secret Service): ${NO_BUS}` },
        read: null,
        bindingLoaded: false,
        inKeyutils: null,
        inDefault: null,
      },
    });
  });
});

describe('KeyringSecretStore input checks (before any keyring access)', () => {
  const s = new KeyringSecretStore({ service: 'annexd-never-used' });

  it('rejects invalid names', async () => {
    await expect(s.getSecret('../etc')).rejects.toThrow(CredentialError);
    await expect(s.setSecret('', 'x')).rejects.toThrow(/invalid credential name/);
    await expect(s.deleteSecret('a b')).rejects.toThrow(CredentialError);
  });

  it('rejects an empty secret', async () => {
    await expect(s.setSecret('alice', '')).rejects.toThrow(new CredentialError('empty secret: nothing stored'));
  });
});

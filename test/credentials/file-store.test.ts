/** The file secret store: real files in a temp dir, real concurrent processes. */
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSecretStore } from '../../src/credentials/file-store.js';
import { CredentialError } from '../../src/credentials/model.js';
import { distModule, modeOf, removeTempDirs, runNode, script, tempDir } from './support.js';

afterEach(removeTempDirs);

const PASS = 'correct horse battery staple';

/** A store in a fresh temp dir (the dir itself not yet created). */
async function fresh(passphrase?: string): Promise<{ dir: string; path: string; store: FileSecretStore }> {
  const dir = join(await tempDir(), 'annexd');
  return { dir, path: join(dir, 'secrets.json'), store: new FileSecretStore({ dir, passphrase }) };
}

async function json(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

/** The message of the CredentialError that `p` rejects with. */
async function credentialError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialError);
  return (err as CredentialError).message;
}

describe('FileSecretStore, plain text', () => {
  it('round-trips secrets in an owner-only file in an owner-only directory', async () => {
    const { dir, path, store } = await fresh();
    expect(store.kind).toBe('file');
    expect(store.describe()).toBe(`file ${path} (plain text, owner-only)`);
    expect(await store.available()).toEqual({ ok: true });
    expect(await store.getSecret('s3-work')).toBeUndefined();

    await store.setSecret('s3-work', 'wJalrXUtnFEMI/K7MDENG');
    await store.setSecret('dav@example.org', 'pässwörd "quoted"\n');
    expect(await store.getSecret('s3-work')).toBe('wJalrXUtnFEMI/K7MDENG');
    expect(await new FileSecretStore({ dir }).getSecret('dav@example.org')).toBe('pässwörd "quoted"\n');
    expect(await json(path)).toEqual({
      format: 'annexd-secrets',
      version: 1,
      encrypted: false,
      secrets: { 'dav@example.org': 'pässwörd "quoted"\n', 's3-work': 'wJalrXUtnFEMI/K7MDENG' },
    });
    expect(await modeOf(path)).toBe(0o600);
    expect(await modeOf(dir)).toBe(0o700);
    // No lock or temp file left behind.
    expect(await readdir(dir)).toEqual(['secrets.json']);
  });

  it('tightens an existing directory to 0700 when it writes', async () => {
    const { dir, store } = await fresh();
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    await store.setSecret('a', 'x');
    expect(await modeOf(dir)).toBe(0o700);
  });

  it('replaces a secret, and deletes reporting whether anything was there', async () => {
    const { dir, path, store } = await fresh();
    expect(await store.deleteSecret('a')).toBe(false);
    await expect(readdir(dir)).rejects.toThrow(); // nothing created for nothing deleted
    await store.setSecret('a', 'one');
    await store.setSecret('a', 'two');
    await store.setSecret('b', 'three');
    expect(await store.getSecret('a')).toBe('two');
    expect(await store.deleteSecret('a')).toBe(true);
    expect(await store.deleteSecret('a')).toBe(false);
    expect(await store.getSecret('a')).toBeUndefined();
    expect(await store.getSecret('b')).toBe('three');
    expect((await json(path)).secrets).toEqual({ b: 'three' });
  });

  it('refuses an empty secret and an invalid name, storing nothing', async () => {
    const { dir, store } = await fresh();
    expect(await credentialError(store.setSecret('a', ''))).toBe('empty secret: nothing stored');
    expect(await credentialError(store.setSecret('../etc', 'x'))).toMatch(/^invalid credential name/);
    expect(await credentialError(store.getSecret(''))).toMatch(/^invalid credential name/);
    await expect(readdir(dir)).rejects.toThrow();
  });

  it('does not find names that exist on every object', async () => {
    const { store } = await fresh();
    await store.setSecret('a', 'x');
    expect(await store.getSecret('constructor')).toBeUndefined();
    expect(await store.getSecret('toString')).toBeUndefined();
    expect(await store.deleteSecret('hasOwnProperty')).toBe(false);
    await store.setSecret('constructor', 'y');
    expect(await store.getSecret('constructor')).toBe('y');
  });

  it('refuses a file other users can read, with the chmod that fixes it, and does not fix it silently', async () => {
    const { path, store } = await fresh();
    await store.setSecret('a', 'x');
    await chmod(path, 0o644);
    const before = await readFile(path);
    const expected = `${path} is readable by other users (mode 0644): run chmod 600 ${path}`;
    expect(await credentialError(store.getSecret('a'))).toBe(expected);
    expect(await credentialError(store.setSecret('b', 'y'))).toBe(expected);
    expect(await credentialError(store.deleteSecret('a'))).toBe(expected);
    expect(await modeOf(path)).toBe(0o644);
    expect(await readFile(path)).toEqual(before);
    await chmod(path, 0o640);
    expect(await credentialError(store.getSecret('a'))).toBe(
      `${path} is readable by other users (mode 0640): run chmod 600 ${path}`,
    );
    await chmod(path, 0o600);
    expect(await store.getSecret('a')).toBe('x');
  });

  it('never overwrites a corrupt file', async () => {
    const { dir, path, store } = await fresh();
    await mkdir(dir, { mode: 0o700 });
    const cases: [string, string][] = [
      ['{"format":"annexd-secrets","version":1,"encrypted":false,"secrets":{"a":"x"', 'not JSON'],
      ['{"format":"something-else"}', 'not an annexd secrets file'],
      ['{"format":"annexd-secrets","version":1,"encrypted":false,"secrets":{"a":1}}', 'the secret of "a" is not a string'],
      ['{"format":"annexd-secrets","version":1,"encrypted":false}', 'secrets is not an object'],
    ];
    for (const [text, why] of cases) {
      await writeFile(path, text, { mode: 0o600 });
      const expected = `${path} is corrupt (${why}); it was left untouched — fix or remove it`;
      expect(await credentialError(store.getSecret('a'))).toBe(expected);
      expect(await credentialError(store.setSecret('b', 'y'))).toBe(expected);
      expect(await credentialError(store.deleteSecret('a'))).toBe(expected);
      expect(await readFile(path, 'utf8')).toBe(text);
    }
  });

  it('never overwrites a file written by a newer version', async () => {
    const { dir, path, store } = await fresh();
    await mkdir(dir, { mode: 0o700 });
    const text = '{"format":"annexd-secrets","version":2,"secrets":{}}';
    await writeFile(path, text, { mode: 0o600 });
    expect(await credentialError(store.setSecret('b', 'y'))).toBe(
      `${path} has format version 2, newer than this annexd reads; it was left untouched — upgrade annexd`,
    );
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('is not available where the directory cannot be created', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'file'), '');
    const store = new FileSecretStore({ dir: join(root, 'file', 'annexd') });
    expect(await store.available()).toEqual({
      ok: false,
      reason: `cannot use ${join(root, 'file', 'annexd')}: ${join(root, 'file')} is not a directory`,
    });
    expect(await credentialError(store.setSecret('a', 'x'))).toMatch(/^cannot create /);
  });

  it('is available without creating anything', async () => {
    const { dir, store } = await fresh();
    expect(await store.available()).toEqual({ ok: true });
    await expect(readdir(dir)).rejects.toThrow();
  });
});

describe('FileSecretStore, encrypted', () => {
  it('round-trips secrets without either secrets or names in the file', async () => {
    const { dir, path, store } = await fresh(PASS);
    expect(store.describe()).toBe(`file ${path} (encrypted)`);
    expect(await store.available()).toEqual({ ok: true });
    await store.setSecret('s3-work', 'wJalrXUtnFEMI/K7MDENG');
    await store.setSecret('other', 'second-secret');
    expect(await store.getSecret('s3-work')).toBe('wJalrXUtnFEMI/K7MDENG');
    // A new instance derives the key again from the passphrase and the file's salt.
    expect(await new FileSecretStore({ dir, passphrase: PASS }).getSecret('other')).toBe('second-secret');

    const raw = await readFile(path, 'utf8');
    for (const plain of ['wJalrXUtnFEMI', 'second-secret', 's3-work', PASS]) expect(raw).not.toContain(plain);
    const doc = JSON.parse(raw) as Record<string, unknown>;
    expect(doc).toMatchObject({
      format: 'annexd-secrets',
      version: 1,
      encrypted: true,
      kdf: { name: 'scrypt', N: 32768, r: 8, p: 1 },
      cipher: 'aes-256-gcm',
    });
    expect(Object.keys(doc).sort()).toEqual(['cipher', 'data', 'encrypted', 'format', 'iv', 'kdf', 'tag', 'version']);
    expect(Buffer.from(String(doc.iv), 'base64')).toHaveLength(12);
    expect(Buffer.from(String(doc.tag), 'base64')).toHaveLength(16);
    expect(await modeOf(path)).toBe(0o600);
    expect(await modeOf(dir)).toBe(0o700);
  });

  it('uses a fresh iv on every write and keeps the salt', async () => {
    const { path, store } = await fresh(PASS);
    await store.setSecret('a', 'x');
    const first = await json(path);
    await store.setSecret('a', 'x');
    const second = await json(path);
    expect(second.iv).not.toBe(first.iv);
    expect(second.data).not.toBe(first.data);
    expect(second.kdf).toEqual(first.kdf);
  });

  it('reports a wrong passphrase and leaves the file as it was', async () => {
    const { dir, path, store } = await fresh(PASS);
    await store.setSecret('a', 'x');
    const before = await readFile(path);
    const wrong = new FileSecretStore({ dir, passphrase: 'Tr0ub4dor&3' });
    const expected = `wrong passphrase for ${path}`;
    expect(await credentialError(wrong.getSecret('a'))).toBe(expected);
    expect(await credentialError(wrong.setSecret('b', 'y'))).toBe(expected);
    expect(await credentialError(wrong.deleteSecret('a'))).toBe(expected);
    expect(await readFile(path)).toEqual(before);
    expect(await store.getSecret('a')).toBe('x');
  });

  it('without the passphrase: not available, with the variable to set, and untouched', async () => {
    const { dir, path, store } = await fresh(PASS);
    await store.setSecret('a', 'x');
    const before = await readFile(path);
    const plain = new FileSecretStore({ dir });
    const expected = `${path} is encrypted: set ANNEXD_CREDENTIALS_PASSPHRASE`;
    expect(await plain.available()).toEqual({ ok: false, reason: expected });
    expect(await credentialError(plain.getSecret('a'))).toBe(expected);
    expect(await credentialError(plain.setSecret('b', 'y'))).toBe(expected);
    expect(await credentialError(plain.deleteSecret('a'))).toBe(expected);
    expect(await readFile(path)).toEqual(before);
  });

  it('reads a plain file and encrypts it on the next write', async () => {
    const { dir, path } = await fresh();
    await new FileSecretStore({ dir }).setSecret('old', 'kept');
    const store = new FileSecretStore({ dir, passphrase: PASS });
    expect(await store.getSecret('old')).toBe('kept');
    expect((await json(path)).encrypted).toBe(false);
    await store.setSecret('new', 'added');
    expect((await json(path)).encrypted).toBe(true);
    expect(await readFile(path, 'utf8')).not.toContain('kept');
    const again = new FileSecretStore({ dir, passphrase: PASS });
    expect([await again.getSecret('old'), await again.getSecret('new')]).toEqual(['kept', 'added']);
  });

  it('never overwrites an encrypted file whose fields are damaged', async () => {
    const { path, store } = await fresh(PASS);
    await store.setSecret('a', 'x');
    const doc = await json(path);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...doc, iv: 'not base64!' }, 'bad iv'],
      [{ ...doc, iv: Buffer.alloc(8).toString('base64') }, 'bad iv length'],
      [{ ...doc, kdf: { ...(doc.kdf as object), N: 2 ** 30 } }, 'bad scrypt parameters'],
      [{ ...doc, cipher: 'rot13' }, 'unknown cipher'],
    ];
    for (const [broken, why] of cases) {
      const text = JSON.stringify(broken);
      await writeFile(path, text);
      expect(await credentialError(store.setSecret('b', 'y'))).toBe(
        `${path} is corrupt (${why}); it was left untouched — fix or remove it`,
      );
      expect(await readFile(path, 'utf8')).toBe(text);
    }
    // Altered ciphertext fails authentication, like a wrong passphrase.
    const data = Buffer.from(String(doc.data), 'base64');
    data[0] = (data[0] ?? 0) ^ 1;
    await writeFile(path, JSON.stringify({ ...doc, data: data.toString('base64') }));
    expect(await credentialError(store.getSecret('a'))).toBe(`wrong passphrase for ${path}`);
  });

  it('refuses an empty passphrase rather than storing in plain text', async () => {
    const { dir, store } = await fresh('');
    const expected = 'ANNEXD_CREDENTIALS_PASSPHRASE is empty: set a passphrase, or unset it to keep secrets in plain text';
    expect(await store.available()).toEqual({ ok: false, reason: expected });
    expect(await credentialError(store.setSecret('a', 'x'))).toBe(expected);
    expect(await credentialError(store.getSecret('a'))).toBe(expected);
    await expect(readdir(dir)).rejects.toThrow();
  });
});

const SETTER = `
const [mod, dir, prefix, count, startAt] = process.argv.slice(2);
const { FileSecretStore } = await import(mod);
const passphrase = process.env.TEST_PASSPHRASE || undefined;
const store = new FileSecretStore({ dir, passphrase });
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
for (let i = 0; i < Number(count); i++) await store.setSecret(prefix + '-' + i, 'secret-' + prefix + '-' + i);
`;

describe('FileSecretStore, several processes at once', () => {
  for (const passphrase of [undefined, PASS]) {
    it(`loses no entry when three processes set 25 names each${passphrase ? ' (encrypted)' : ''}`, async () => {
      const mod = distModule('file-store');
      const { dir, path } = await fresh();
      const setter = await script(await tempDir(), 'setter.mjs', SETTER);
      const startAt = String(Date.now() + 700);
      const prefixes = ['p1', 'p2', 'p3'];
      const runs = await Promise.all(
        prefixes.map((prefix) =>
          runNode([setter, mod, dir, prefix, '25', startAt], { env: { TEST_PASSPHRASE: passphrase ?? '' } }),
        ),
      );
      for (const run of runs) expect(run).toMatchObject({ code: 0, stderr: '' });

      const store = new FileSecretStore({ dir, passphrase });
      for (const prefix of prefixes) {
        for (let i = 0; i < 25; i++) expect(await store.getSecret(`${prefix}-${i}`)).toBe(`secret-${prefix}-${i}`);
      }
      expect((await json(path)).encrypted).toBe(passphrase !== undefined);
      expect(await modeOf(path)).toBe(0o600);
      expect(await readdir(dir)).toEqual(['secrets.json']);
    });
  }
});

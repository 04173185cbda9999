/**
 * Secrets in one owner-only file, for machines without a keyring; encrypted
 * (scrypt + AES-256-GCM) when a passphrase is given. Every change is a
 * read-modify-write under a lock file with an atomic replace, so concurrent
 * processes never lose an entry; a file that cannot be read or decrypted is
 * never overwritten.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errCode, errText, withFileLock, writeFileAtomic } from '../util/file-lock.js';
import { CredentialError, type Availability, type SecretStore } from './model.js';
import { checkName } from './names.js';

export interface FileSecretStoreOptions {
  /** configDir() in production. */
  dir: string;
  /** From ANNEXD_CREDENTIALS_PASSPHRASE (read by the caller); without it the file is plain text. */
  passphrase?: string;
}

const FORMAT = 'annexd-secrets';
const VERSION = 1;
const PASSPHRASE_VAR = 'ANNEXD_CREDENTIALS_PASSPHRASE';

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}
/** About 100 ms and 32 MiB per derivation; derived once per process and file. */
const SCRYPT: ScryptParams = { N: 32768, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface PlainFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  encrypted: false;
  secrets: Record<string, string>;
}

/** A plain file as read: secrets in a Map, see secretMap. */
interface PlainRead {
  encrypted: false;
  secrets: Map<string, string>;
}

interface EncryptedFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  encrypted: true;
  kdf: { name: 'scrypt'; salt: string } & ScryptParams;
  cipher: 'aes-256-gcm';
  iv: string;
  tag: string;
  data: string;
}

/** What a read found, and the salt to write back with (kept per file). */
interface Loaded {
  secrets: Map<string, string>;
  salt?: Buffer;
}

export class FileSecretStore implements SecretStore {
  readonly kind = 'file' as const;
  readonly dir: string;
  readonly path: string;
  private readonly lockPath: string;
  private readonly passphrase: string | undefined;
  /** Derived keys by salt and parameters: scrypt is deliberately slow. */
  private readonly keys = new Map<string, Buffer>();

  constructor(opts: FileSecretStoreOptions) {
    this.dir = opts.dir;
    this.path = join(opts.dir, 'secrets.json');
    this.lockPath = join(opts.dir, 'secrets.lock');
    this.passphrase = opts.passphrase;
  }

  describe(): string {
    return `file ${this.path} (${this.passphrase === undefined ? 'plain text, owner-only' : 'encrypted'})`;
  }

  async available(): Promise<Availability> {
    if (this.passphrase === '') return { ok: false, reason: emptyPassphrase() };
    const problem = await dirProblem(this.dir);
    if (problem) return { ok: false, reason: problem };
    if (this.passphrase === undefined) {
      // Only the header: decrypting costs a key derivation, and this check must be cheap.
      // A corrupt file is reported by the operations, with its own message.
      let doc: unknown;
      try {
        doc = JSON.parse(await readFileIfExists(this.path).then((t) => t ?? 'null'));
      } catch {
        return { ok: true };
      }
      if (isRecord(doc) && doc.encrypted === true) return { ok: false, reason: encryptedNoPassphrase(this.path) };
    }
    return { ok: true };
  }

  async getSecret(name: string): Promise<string | undefined> {
    checkName(name);
    return (await this.load()).secrets.get(name);
  }

  async setSecret(name: string, secret: string): Promise<void> {
    checkName(name);
    if (secret === '') throw new CredentialError('empty secret: nothing stored');
    if (this.passphrase === '') throw new CredentialError(emptyPassphrase());
    await this.ensureDir();
    await withFileLock(this.lockPath, async () => {
      const loaded = await this.load();
      loaded.secrets.set(name, secret);
      await this.save(loaded);
    });
  }

  async deleteSecret(name: string): Promise<boolean> {
    checkName(name);
    // Nothing to delete, and no reason to create the directory.
    if (await isAbsent(this.path)) return false;
    await this.ensureDir();
    return withFileLock(this.lockPath, async () => {
      const loaded = await this.load();
      if (!loaded.secrets.delete(name)) return false;
      await this.save(loaded);
      return true;
    });
  }

  private async ensureDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const st = await stat(this.dir);
      if ((st.mode & 0o077) !== 0) await chmod(this.dir, 0o700);
    } catch (err) {
      throw new CredentialError(`cannot create ${this.dir}: ${errText(err)}`);
    }
  }

  /** Throws, rather than returning nothing, for any file it cannot fully read: callers write back what it returns. */
  private async load(): Promise<Loaded> {
    if (this.passphrase === '') throw new CredentialError(emptyPassphrase());
    const text = await this.readChecked();
    if (text === undefined) return { secrets: new Map() };
    const doc = parseFile(this.path, text);
    // A plain file is still read when a passphrase is given; the next write
    // encrypts it (save() always encrypts when there is a passphrase).
    if (!doc.encrypted) return { secrets: doc.secrets };
    if (this.passphrase === undefined) throw new CredentialError(encryptedNoPassphrase(this.path));

    const salt = Buffer.from(doc.kdf.salt, 'base64');
    const key = await this.key(salt, doc.kdf);
    let plain: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(doc.iv, 'base64'), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(Buffer.from(doc.tag, 'base64'));
      plain = Buffer.concat([decipher.update(Buffer.from(doc.data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      // GCM cannot tell a wrong key from altered bytes; a wrong passphrase is by far the likelier.
      throw new CredentialError(`wrong passphrase for ${this.path}`);
    }
    let secrets: unknown;
    try {
      secrets = JSON.parse(plain);
    } catch {
      throw corrupt(this.path, 'the decrypted data is not JSON');
    }
    const sameParams = doc.kdf.N === SCRYPT.N && doc.kdf.r === SCRYPT.r && doc.kdf.p === SCRYPT.p;
    return { secrets: secretMap(this.path, secrets), ...(sameParams ? { salt } : {}) };
  }

  /** The file's text, after refusing a file that other users can read; undefined when absent. */
  private async readChecked(): Promise<string | undefined> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      throw new CredentialError(`cannot read ${this.path}: ${errText(err)}`);
    }
    try {
      // fstat on the open file: the file checked is the file read.
      const st = await fh.stat();
      if (!st.isFile()) throw new CredentialError(`${this.path} is not a regular file`);
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      // Not fixed silently: the secrets may already have leaked, and the user should know.
      if ((st.mode & 0o044) !== 0) {
        throw new CredentialError(`${this.path} is readable by other users (mode ${mode}): run chmod 600 ${this.path}`);
      }
      if ((st.mode & 0o033) !== 0) {
        throw new CredentialError(`${this.path} is writable by other users (mode ${mode}): run chmod 600 ${this.path}`);
      }
      return await fh.readFile('utf8');
    } catch (err) {
      if (err instanceof CredentialError) throw err;
      throw new CredentialError(`cannot read ${this.path}: ${errText(err)}`);
    } finally {
      await fh.close();
    }
  }

  private async save(loaded: Loaded): Promise<void> {
    const sorted = [...loaded.secrets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const secrets = Object.fromEntries(sorted);
    let doc: PlainFile | EncryptedFile;
    if (this.passphrase === undefined) {
      doc = { format: FORMAT, version: VERSION, encrypted: false, secrets };
    } else {
      const salt = loaded.salt ?? randomBytes(SALT_BYTES);
      const key = await this.key(salt, SCRYPT);
      // A fresh iv on every write: GCM must never reuse one with the same key.
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      const data = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
      doc = {
        format: FORMAT,
        version: VERSION,
        encrypted: true,
        kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('base64') },
        cipher: 'aes-256-gcm',
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      };
    }
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(doc, null, 2)}\n`, 0o600);
    } catch (err) {
      throw new CredentialError(`cannot write ${this.path}: ${errText(err)}`);
    }
  }

  private async key(salt: Buffer, params: ScryptParams): Promise<Buffer> {
    const id = `${params.N}:${params.r}:${params.p}:${salt.toString('base64')}`;
    let key = this.keys.get(id);
    if (!key) {
      // NFC: the same passphrase typed on different systems can arrive composed or decomposed.
      key = await deriveKey((this.passphrase ?? '').normalize('NFC'), salt, params);
      this.keys.set(id, key);
    }
    return key;
  }
}

function deriveKey(passphrase: string, salt: Buffer, { N, r, p }: ScryptParams): Promise<Buffer> {
  // Node refuses when 128*N*r exceeds maxmem (32 MiB by default, exactly what N=32768, r=8 needs).
  const maxmem = 256 * N * r * p + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, KEY_BYTES, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Validates the whole structure: whatever passes here can be decrypted or used as is. */
function parseFile(path: string, text: string): PlainRead | EncryptedFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt(path, 'not JSON');
  }
  if (!isRecord(doc) || doc.format !== FORMAT) throw corrupt(path, 'not an annexd secrets file');
  if (typeof doc.version === 'number' && doc.version > VERSION) {
    throw new CredentialError(
      `${path} has format version ${doc.version}, newer than this annexd reads; it was left untouched — upgrade annexd`,
    );
  }
  if (doc.version !== VERSION) throw corrupt(path, 'bad version');
  if (doc.encrypted === false) {
    return { encrypted: false, secrets: secretMap(path, doc.secrets) };
  }
  if (doc.encrypted !== true) throw corrupt(path, '"encrypted" is neither true nor false');
  const kdf = doc.kdf;
  if (!isRecord(kdf) || kdf.name !== 'scrypt') throw corrupt(path, 'unknown key derivation');
  const { N, r, p } = kdf;
  // Bounds keep a tampered file from demanding gigabytes of memory or hours of work.
  const sane =
    typeof N === 'number' && Number.isInteger(N) && N >= 2 && N <= 2 ** 20 && (N & (N - 1)) === 0 &&
    typeof r === 'number' && Number.isInteger(r) && r >= 1 && r <= 32 &&
    typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 16;
  if (!sane) throw corrupt(path, 'bad scrypt parameters');
  if (doc.cipher !== 'aes-256-gcm') throw corrupt(path, 'unknown cipher');
  const salt = base64Field(path, kdf.salt, 'kdf.salt');
  const iv = base64Field(path, doc.iv, 'iv');
  const tag = base64Field(path, doc.tag, 'tag');
  const data = base64Field(path, doc.data, 'data');
  if (Buffer.from(salt, 'base64').length < SALT_BYTES) throw corrupt(path, 'salt too short');
  if (Buffer.from(iv, 'base64').length !== IV_BYTES) throw corrupt(path, 'bad iv length');
  if (Buffer.from(tag, 'base64').length !== TAG_BYTES) throw corrupt(path, 'bad tag length');
  return {
    format: FORMAT,
    version: VERSION,
    encrypted: true,
    kdf: { name: 'scrypt', N, r, p, salt },
    cipher: 'aes-256-gcm',
    iv,
    tag,
    data,
  };
}

/** A Map, not an object: names such as "constructor" must not meet Object.prototype. */
function secretMap(path: string, value: unknown): Map<string, string> {
  if (!isRecord(value)) throw corrupt(path, 'secrets is not an object');
  const map = new Map<string, string>();
  for (const [name, secret] of Object.entries(value)) {
    if (typeof secret !== 'string') throw corrupt(path, `the secret of "${name.slice(0, 40)}" is not a string`);
    map.set(name, secret);
  }
  return map;
}

function base64Field(path: string, value: unknown, field: string): string {
  // Buffer.from(…, 'base64') skips bad characters silently; garbage must not pass as data.
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw corrupt(path, `bad ${field}`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function corrupt(path: string, why: string): CredentialError {
  return new CredentialError(`${path} is corrupt (${why}); it was left untouched — fix or remove it`);
}

function encryptedNoPassphrase(path: string): string {
  return `${path} is encrypted: set ${PASSPHRASE_VAR}`;
}

function emptyPassphrase(): string {
  return `${PASSPHRASE_VAR} is empty: set a passphrase, or unset it to keep secrets in plain text`;
}

async function readFileIfExists(path: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw new CredentialError(`cannot read ${path}: ${errText(err)}`);
  }
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

async function isAbsent(path: string): Promise<boolean> {
  try {
    await stat(path);
    return false;
  } catch (err) {
    return errCode(err) === 'ENOENT';
  }
}

/** Why secrets cannot be written under `dir`, without creating anything; undefined when they can. */
async function dirProblem(dir: string): Promise<string | undefined> {
  // The nearest existing ancestor decides: it must be a writable directory.
  for (let d = dir; ; d = dirname(d)) {
    try {
      const st = await stat(d);
      if (!st.isDirectory()) return `cannot use ${dir}: ${d} is not a directory`;
      await access(d, constants.W_OK | constants.X_OK);
      return undefined;
    } catch (err) {
      // ENOTDIR: a file further up, which the next round names.
      if ((errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') && dirname(d) !== d) continue;
      if (errCode(err) === 'EACCES' || errCode(err) === 'EPERM') return `cannot use ${dir}: ${d} is not writable`;
      return `cannot use ${dir}: ${errText(err)}`;
    }
  }
}

/**
 * The index of stored credentials: names, stores and plain properties, never
 * secrets (those are in the keyring or the secrets file). It is what `list`
 * shows and how `get` knows which store holds a secret. Owner-only, updated
 * under a lock and replaced atomically, so concurrent `set`s lose nothing.
 */
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock, writeFileAtomic } from '../util/file-lock.js';
import { CredentialError, type StoreKind } from './model.js';

export interface IndexEntry {
  store: StoreKind;
  props: Record<string, string>;
  updated: string;
}

export type IndexEntries = Record<string, IndexEntry>;

const FORMAT = 'annexd-credentials';

export class CredentialIndex {
  readonly path: string;

  constructor(private readonly dir: string) {
    this.path = join(dir, 'credentials.json');
  }

  async read(): Promise<IndexEntries> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new CredentialError(`cannot read ${this.path}: ${(err as Error).message}`);
    }
    let parsed: { format?: unknown; version?: unknown; credentials?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new CredentialError(`${this.path} is corrupt (not JSON); it was left untouched: fix or remove it`);
    }
    if (parsed.format !== FORMAT || parsed.version !== 1 || typeof parsed.credentials !== 'object' || parsed.credentials === null) {
      throw new CredentialError(`${this.path} is corrupt (not an annexd credential index); it was left untouched: fix or remove it`);
    }
    return parsed.credentials as IndexEntries;
  }

  /** Read-modify-write under the lock; a corrupt index is never overwritten. */
  async update<T>(change: (entries: IndexEntries) => T): Promise<T> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    return withFileLock(join(this.dir, 'credentials.lock'), async () => {
      const entries = await this.read();
      const result = change(entries);
      const sorted = Object.fromEntries(Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      await writeFileAtomic(this.path, JSON.stringify({ format: FORMAT, version: 1, credentials: sorted }, null, 2) + '\n');
      return result;
    });
  }
}

/**
 * The credential store: one place for every secret annexd uses. Secrets go to
 * the system keyring or to the secrets file, chosen explicitly or (when not
 * chosen) the keyring if one is reachable, else the file: and the caller is
 * told which, and why. Environment variables ANNEXD_CREDENTIAL_<NAME>_<PROP>
 * (and _SECRET) override what is stored, or define a credential outright.
 */
import { CredentialIndex } from './index-file.js';
import { CredentialError, type Credential, type CredentialInfo, type SecretStore, type StoreKind } from './model.js';
import { checkName, checkProp, envVarName, validName } from './names.js';
import { configDir } from './paths.js';

export interface StoreOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides the config directory (tests, and ANNEXD_CONFIG_DIR). */
  dir?: string;
}

export interface SetResult {
  store: StoreKind;
  where: string;
  /** Set when the store was chosen automatically: why this one. */
  why?: string;
}

/** An environment override on top of (or instead of) a stored credential. */
function envOverrides(name: string, env: NodeJS.ProcessEnv): { secret?: string; props: Record<string, string> } {
  const prefix = envVarName(name, '');
  const props: Record<string, string> = {};
  let secret: string | undefined;
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(prefix) || value === undefined) continue;
    const prop = key.slice(prefix.length).toLowerCase();
    if (!prop) continue;
    if (prop === 'secret') secret = value;
    else props[prop] = value;
  }
  return { secret, props };
}

export class CredentialStore {
  private readonly env: NodeJS.ProcessEnv;
  readonly dir: string;
  private readonly index: CredentialIndex;
  private readonly stores = new Map<StoreKind, SecretStore>();

  constructor(options: StoreOptions = {}) {
    this.env = options.env ?? process.env;
    this.dir = options.dir ?? configDir(this.env);
    this.index = new CredentialIndex(this.dir);
  }

  /** The secret store of a kind, created on first use (the keyring binding loads lazily). */
  async secretStore(kind: StoreKind): Promise<SecretStore> {
    let store = this.stores.get(kind);
    if (!store) {
      if (kind === 'keyring') {
        const { KeyringSecretStore } = await import('./keyring-store.js');
        store = new KeyringSecretStore();
      } else {
        const { FileSecretStore } = await import('./file-store.js');
        store = new FileSecretStore({ dir: this.dir, passphrase: this.env.ANNEXD_CREDENTIALS_PASSPHRASE || undefined });
      }
      this.stores.set(kind, store);
    }
    return store;
  }

  private async choose(requested: StoreKind | undefined): Promise<{ store: SecretStore; why?: string }> {
    if (requested) {
      const store = await this.secretStore(requested);
      const a = await store.available();
      if (!a.ok) throw new CredentialError(`${store.describe()} cannot be used: ${a.reason}`);
      return { store };
    }
    const keyring = await this.secretStore('keyring');
    const k = await keyring.available();
    if (k.ok) return { store: keyring, why: 'a system keyring is reachable' };
    const file = await this.secretStore('file');
    const f = await file.available();
    if (!f.ok) throw new CredentialError(`no store can be used: keyring: ${k.reason}; file: ${f.reason}`);
    // The reason's first clause only: its advice ("use --store file") was just followed.
    return { store: file, why: k.reason.split(';')[0] };
  }

  async set(name: string, secret: string, props: Record<string, string>, options: { store?: StoreKind } = {}): Promise<SetResult> {
    checkName(name);
    for (const p of Object.keys(props)) checkProp(p);
    if (!secret) throw new CredentialError('empty secret: nothing stored');
    const existing = (await this.index.read())[name];
    const { store, why } = await this.choose(options.store ?? existing?.store);
    await store.setSecret(name, secret);
    await this.index.update((entries) => {
      entries[name] = { store: store.kind, props: { ...props }, updated: new Date().toISOString() };
    });
    // Moved to another store: the old copy must not linger.
    if (existing && existing.store !== store.kind) {
      await (await this.secretStore(existing.store)).deleteSecret(name).catch(() => false);
    }
    return { store: store.kind, where: store.describe(), why };
  }

  /** A stored credential with environment overrides applied; undefined when neither exists. */
  async get(name: string): Promise<Credential | undefined> {
    checkName(name);
    const env = envOverrides(name, this.env);
    const entry = (await this.index.read())[name];
    if (!entry) {
      if (env.secret === undefined) return undefined;
      return { name, props: env.props, secret: env.secret, store: 'environment', updated: '' };
    }
    const secret = env.secret ?? (await (await this.secretStore(entry.store)).getSecret(name));
    if (secret === undefined) {
      throw new CredentialError(
        `credential "${name}" is listed but its secret is missing from the ${entry.store}; set it again: annexd credentials set ${name}`,
      );
    }
    return { name, props: { ...entry.props, ...env.props }, secret, store: entry.store, updated: entry.updated };
  }

  /**
   * The name of the first credential whose realm is `realm`: stored ones (with
   * their environment overrides), then ones defined only by environment
   * variables (ANNEXD_CREDENTIAL_<NAME>_REALM plus _SECRET).
   */
  async findByRealm(realm: string): Promise<string | undefined> {
    return (await this.list()).find((c) => c.props.realm === realm)?.name;
  }

  /**
   * Every credential as `get` would see it (properties with environment
   * overrides applied): the stored ones, then those defined only by
   * ANNEXD_CREDENTIAL_<NAME>_SECRET (store "environment", NAME lowercased).
   */
  async list(): Promise<CredentialInfo[]> {
    const entries = await this.index.read();
    const stored: CredentialInfo[] = Object.entries(entries).map(([name, e]) => ({
      name,
      props: { ...e.props, ...envOverrides(name, this.env).props },
      store: e.store,
      updated: e.updated,
    }));
    const taken = new Set(stored.map((c) => envVarName(c.name, '')));
    const envOnly: CredentialInfo[] = [];
    for (const key of Object.keys(this.env).sort()) {
      const m = /^ANNEXD_CREDENTIAL_(.+)_SECRET$/.exec(key);
      const name = m?.[1]?.toLowerCase();
      if (!name || !validName(name) || taken.has(envVarName(name, ''))) continue;
      taken.add(envVarName(name, ''));
      envOnly.push({ name, props: envOverrides(name, this.env).props, store: 'environment', updated: '' });
    }
    return [...stored, ...envOnly];
  }

  /** true when something was removed. */
  async remove(name: string): Promise<boolean> {
    checkName(name);
    const entry = (await this.index.read())[name];
    if (!entry) return false;
    await (await this.secretStore(entry.store)).deleteSecret(name);
    await this.index.update((entries) => {
      delete entries[name];
    });
    return true;
  }
}

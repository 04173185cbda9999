/**
 * The credential store's vocabulary. A credential has a name, one secret and
 * plain properties (type, user, key_id, realm, …). Properties live in an index
 * file (no secrets); the secret lives in a SecretStore: the system keyring, or
 * an owner-only file, encrypted when a passphrase is given.
 */

export type StoreKind = 'keyring' | 'file';

export interface CredentialInfo {
  name: string;
  /** Plain properties; never the secret. */
  props: Record<string, string>;
  /** Where the secret is; 'environment' for a credential defined only by ANNEXD_CREDENTIAL_* variables. */
  store: StoreKind | 'environment';
  /** ISO time of the last set ('' for environment-only credentials). */
  updated: string;
}

export interface Credential extends CredentialInfo {
  secret: string;
}

/** Why a store cannot be used right now, in one line that names the fix. */
export type Availability = { ok: true } | { ok: false; reason: string };

/** Where secrets are kept. Names are validated before they reach a store. */
export interface SecretStore {
  readonly kind: StoreKind;
  /** e.g. "Secret Service keyring (gnome-keyring)" or "/home/u/.config/annexd/secrets.json (encrypted)". */
  describe(): string;
  /** Cheap check; never prompts. */
  available(): Promise<Availability>;
  /** undefined when there is no secret under this name. */
  getSecret(name: string): Promise<string | undefined>;
  setSecret(name: string, secret: string): Promise<void>;
  /** true when something was deleted. */
  deleteSecret(name: string): Promise<boolean>;
}

/** A failure of the credential store, with a message meant for the user. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

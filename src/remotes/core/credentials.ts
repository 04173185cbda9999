/**
 * Where a remote finds its credentials: an ordered chain of sources, first
 * hit wins. Each found secret is registered for redaction at once. Sources
 * that need heavy modules (the keyring binding) load them only when asked.
 */
import type { RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import { registerSecret } from '../../util/redact.js';

/**
 * No credential anywhere in the chain. Enabling a remote needs none (only
 * transfers do), so enableremote and autoenable go on without checking the
 * server; a transfer then fails with this message, which names the fix.
 */
export class MissingCredentialsError extends RemoteError {}

/** Whether a credential of this name exists here (annexd's store, its environment overrides, or DataLad's). */
export async function credentialKnown(name: string): Promise<boolean> {
  const { CredentialStore } = await import('../../credentials/store.js');
  if (await new CredentialStore().get(name).catch(() => undefined)) return true;
  const { findDataladCredential } = await import('../../credentials/datalad.js');
  return (await findDataladCredential(name).catch(() => undefined)) !== undefined;
}

/** An identity and its secret: S3 key id + secret key, or WebDAV user + password. */
export interface Credential {
  user: string;
  secret: string;
  sessionToken?: string;
  /** Where it came from; decides e.g. whether initremote should remember it. */
  origin: 'environment' | 'store' | 'remembered' | 'git-annex' | 'git-credential' | 'datalad';
  /** Human-readable origin, e.g. "environment (AWS_ACCESS_KEY_ID)"; never the secret. */
  source: string;
}

export interface CredentialSource {
  find(ctx: RequestContext): Promise<Credential | undefined>;
}

/** Reads a user/secret pair from environment variables; both must be set. */
export function fromEnvironment(
  userVar: string,
  secretVar: string,
  tokenVar?: string,
  env: NodeJS.ProcessEnv = process.env,
): CredentialSource {
  return {
    async find() {
      const user = env[userVar];
      const secret = env[secretVar];
      if (!user || !secret) return undefined;
      const sessionToken = tokenVar ? env[tokenVar] || undefined : undefined;
      return { user, secret, sessionToken, origin: 'environment', source: `environment (${userVar})` };
    },
  };
}

/** git-annex's own credential cache (GETCREDS), filled by SETCREDS at initremote. */
export function fromGitAnnex(setting: string): CredentialSource {
  return {
    async find(ctx) {
      const c = await ctx.annex.getCreds(setting);
      if (!c || !c.user || !c.password) return undefined;
      return { user: c.user, secret: c.password, origin: 'git-annex', source: 'git-annex credentials (embedcreds)' };
    },
  };
}

export async function findCredential(
  sources: Array<CredentialSource | undefined>,
  ctx: RequestContext,
): Promise<Credential | undefined> {
  for (const source of sources) {
    if (!source) continue;
    let c: Credential | undefined;
    try {
      c = await source.find(ctx);
    } catch (err) {
      // The store's own messages (keyring locked, wrong passphrase, …) already name the fix.
      if (err instanceof Error && err.name === 'CredentialError') throw new RemoteError(err.message, { cause: err });
      throw err;
    }
    if (c) {
      registerSecret(c.secret);
      registerSecret(c.sessionToken);
      return c;
    }
  }
  return undefined;
}

/**
 * A credential from annexd's store: by name (`credential=NAME`), or else the
 * first one whose `realm` property names this host. `userProp` says which
 * property holds the identity (S3: key_id; WebDAV: user).
 */
export function fromCredentialStore(options: {
  name?: string;
  realm?: string;
  userProp: string;
  /** A token credential has no identity: its user is then ''. */
  userOptional?: boolean;
}): CredentialSource {
  return {
    async find() {
      const { CredentialStore } = await import('../../credentials/store.js');
      const store = new CredentialStore();
      let name = options.name;
      if (!name && options.realm) name = await store.findByRealm(options.realm);
      if (!name) return undefined;
      const c = await store.get(name);
      if (!c) return undefined;
      const user = c.props[options.userProp] ?? (options.userOptional ? '' : undefined);
      if (user === undefined) {
        throw new RemoteError(
          `credential "${name}" has no ${options.userProp} property: annexd credentials set ${name} ${options.userProp}=…`,
        );
      }
      const where = c.store === 'environment' ? 'environment variables' : `annexd's ${c.store} store`;
      return { user, secret: c.secret, origin: 'store', source: `credential "${name}" (${where})` };
    },
  };
}

/**
 * DataLad's credential of this name (git config datalad.credential.NAME.*,
 * secret in its keyring). `userProps` in order of preference: datalad-next
 * keeps an S3 key id in `user`, legacy DataLad in `key_id` (read as `key-id`).
 */
export function fromDatalad(name: string, userProps: string[], typeHint?: string): CredentialSource {
  return {
    async find() {
      const { findDataladCredential } = await import('../../credentials/datalad.js');
      // The type hint lets legacy (pre-0.18) DataLad credentials be read too.
      const c = await findDataladCredential(name, typeHint ? { typeHint } : {});
      const user = userProps.map((p) => c?.props[p]).find(Boolean);
      if (!c || !user) return undefined;
      return { user, secret: c.secret, origin: 'datalad', source: `DataLad credential "${name}"` };
    },
  };
}

/** The user's git credential helpers for this URL (never prompts). */
export function fromGitCredentialHelper(url: string): CredentialSource {
  return {
    async find() {
      const { gitCredentialFill } = await import('../../credentials/git-credential.js');
      const c = await gitCredentialFill(url);
      return c ? { user: c.username, secret: c.password, origin: 'git-credential', source: `git credential helper for ${new URL(url).host}` } : undefined;
    },
  };
}

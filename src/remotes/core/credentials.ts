/**
 * Where a remote finds its credentials: an ordered chain of sources, first
 * hit wins. Each found secret is registered for redaction at once. The
 * credential store (annexd credentials) joins this chain as another source.
 */
import type { RequestContext } from '../../protocol/contract.js';
import { registerSecret } from '../../util/redact.js';

/** An identity and its secret: S3 key id + secret key, or WebDAV user + password. */
export interface Credential {
  user: string;
  secret: string;
  sessionToken?: string;
  /** Where it came from; decides e.g. whether initremote should remember it. */
  origin: 'environment' | 'remembered' | 'git-annex';
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
  sources: CredentialSource[],
  ctx: RequestContext,
): Promise<Credential | undefined> {
  for (const source of sources) {
    const c = await source.find(ctx);
    if (c) {
      registerSecret(c.secret);
      registerSecret(c.sessionToken);
      return c;
    }
  }
  return undefined;
}

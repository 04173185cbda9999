/**
 * Where an OSF token comes from, first hit wins: OSF_TOKEN, else
 * OSF_USERNAME + OSF_PASSWORD (what datalad-osf reads too); credential=NAME in annexd's store, else DataLad's credential of
 * that name; without credential=, an annexd credential whose realm is the API
 * host; the token remembered at initremote; DataLad's own OSF credential
 * ("https://osf.io", as `datalad osf-credentials` stores it, Token or
 * UserPassword). A token has no user: the Credential's user is ''; a user
 * name and password are sent as Basic auth.
 */
import type { RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import { findCredential, fromCredentialStore, fromGitAnnex, type Credential, type CredentialSource } from '../core/credentials.js';
import { fromLocalFile } from '../core/local-creds.js';
import type { OsfSettings } from './config.js';

/** Name of the remembered token (local file, or git-annex's creds with embedcreds=yes). */
export const CREDS_SETTING = 'annexd-osf';
/**
 * How a token is remembered (the local file, or git-annex's creds with
 * embedcreds=yes, which need a user): under this user name, which no OSF
 * account has (their user names are email addresses).
 */
export const TOKEN_USER = 'token';

/** A remembered credential as the client uses it: a token again has no user. */
function asRemembered(source: CredentialSource): CredentialSource {
  return {
    async find(ctx) {
      const c = await source.find(ctx);
      return c && c.user === TOKEN_USER ? { ...c, user: '' } : c;
    },
  };
}

/** The credential as it is remembered (see TOKEN_USER). */
export const toRemembered = (c: Credential): Credential => (c.user === '' ? { ...c, user: TOKEN_USER } : c);

/** The name datalad-osf keeps its credential under. */
export const DATALAD_OSF_CREDENTIAL = 'https://osf.io';

function fromVariables(env: NodeJS.ProcessEnv): CredentialSource {
  return {
    async find() {
      if (env.OSF_TOKEN) return { user: '', secret: env.OSF_TOKEN, origin: 'environment', source: 'environment (OSF_TOKEN)' };
      if (env.OSF_USERNAME && env.OSF_PASSWORD) {
        return { user: env.OSF_USERNAME, secret: env.OSF_PASSWORD, origin: 'environment', source: 'environment (OSF_USERNAME)' };
      }
      return undefined;
    },
  };
}

/** A DataLad credential: a token (datalad-next "token" type, or the legacy Token layout), or a user and password (UserPassword). */
function fromDatalad(name: string): CredentialSource {
  return {
    async find() {
      const { findDataladCredential } = await import('../../credentials/datalad.js');
      const c = (await findDataladCredential(name, { typeHint: 'token' })) ?? (await findDataladCredential(name, { typeHint: 'user_password' }));
      if (!c?.secret) return undefined;
      return { user: c.props.user ?? '', secret: c.secret, origin: 'datalad', source: `DataLad credential "${name}"` };
    },
  };
}

export function tokenHelp(s: Pick<OsfSettings, 'api'>): string {
  const host = new URL(s.api).host;
  return `create a personal access token at https://osf.io/settings/tokens (scope osf.full_write) and set OSF_TOKEN, or store it with "annexd credentials set osf realm=${host}" (the token is read from the prompt or stdin)`;
}

export async function resolveOsfToken(
  ctx: RequestContext,
  s: Pick<OsfSettings, 'api' | 'credential'>,
  env: NodeJS.ProcessEnv = process.env,
  /** Outside a git-annex run (annexd commands) there is no remembered token to ask git-annex for. */
  where: 'remote' | 'outside-annex' = 'remote',
): Promise<Credential | undefined> {
  const environment = fromVariables(env);
  if (s.credential) {
    const named = await findCredential(
      [environment, fromCredentialStore({ name: s.credential, userProp: 'user', userOptional: true }), fromDatalad(s.credential)],
      ctx,
    );
    if (named) return named;
    throw new RemoteError(
      `credential "${s.credential}" not found: create it with "annexd credentials set ${s.credential} realm=${new URL(s.api).host}" (the OSF token is read from the prompt or stdin)`,
    );
  }
  const remembered = where === 'remote' ? [asRemembered(fromLocalFile(CREDS_SETTING)), asRemembered(fromGitAnnex(CREDS_SETTING))] : [];
  return findCredential(
    [environment, fromCredentialStore({ realm: new URL(s.api).host, userProp: 'user', userOptional: true }), ...remembered, fromDatalad(DATALAD_OSF_CREDENTIAL)],
    ctx,
  );
}

import type { RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import {
  findCredential,
  fromCredentialStore,
  fromDatalad,
  fromEnvironment,
  fromGitAnnex,
  fromGitCredentialHelper,
  type Credential,
} from '../core/credentials.js';
import { fromLocalFile } from '../core/local-creds.js';
import type { WebdavSettings } from './config.js';

/** Name of the remembered pair (local file, or git-annex's creds with embedcreds=yes). */
export const CREDS_SETTING = 'annexd-webdav';

/**
 * The chain, first hit wins: WEBDAV_USERNAME + WEBDAV_PASSWORD; the named
 * annexd credential (credential=NAME; DataLad's of that name if annexd has
 * none), else an annexd credential whose realm is the URL's host; the pair
 * remembered at initremote; git-annex's creds (embedcreds); the user's git
 * credential helpers for the URL. Nothing ever prompts.
 *
 * Unlike S3, finding nothing is not an error: many WebDAV servers allow
 * anonymous access, and a server that does not answers 401, which is reported
 * with the fix.
 */
export async function resolveWebdavCredential(
  ctx: RequestContext,
  s: WebdavSettings,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credential | undefined> {
  const environment = fromEnvironment('WEBDAV_USERNAME', 'WEBDAV_PASSWORD', undefined, env);
  if (s.credential) {
    // A credential named in the remote's config must exist: falling through to others would hide a typo.
    const named = await findCredential(
      [environment, fromCredentialStore({ name: s.credential, userProp: 'user' }), fromDatalad(s.credential, ['user'])],
      ctx,
    );
    if (named) return named;
    throw new RemoteError(
      `credential "${s.credential}" not found: create it with "annexd credentials set ${s.credential} user=YOUR_USER" (the password is read from the prompt or stdin)`,
    );
  }
  return findCredential(
    [
      environment,
      fromCredentialStore({ realm: new URL(s.url).host, userProp: 'user' }),
      fromLocalFile(CREDS_SETTING),
      fromGitAnnex(CREDS_SETTING),
      fromGitCredentialHelper(s.url),
    ],
    ctx,
  );
}

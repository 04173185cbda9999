import type { RequestContext } from '../../protocol/contract.js';
import { lookupCredential } from '../core/credential-chain.js';
import { fromEnvironment, type Credential } from '../core/credentials.js';
import type { WebdavSettings } from './config.js';

/** Name of the remembered pair (local file, or git-annex's creds with embedcreds=yes). */
export const CREDS_SETTING = 'annexd-webdav';

/**
 * The shared chain with WebDAV's names. Unlike S3, finding nothing is not an
 * error: many WebDAV servers allow anonymous access, and one that does not
 * answers 401, which is reported with the fix.
 */
export function resolveWebdavCredential(
  ctx: RequestContext,
  s: WebdavSettings,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credential | undefined> {
  return lookupCredential(ctx, {
    environment: fromEnvironment('WEBDAV_USERNAME', 'WEBDAV_PASSWORD', undefined, env),
    named: s.credential,
    userProp: 'user',
    dataladUserProps: ['user'],
    url: s.url,
    remembered: CREDS_SETTING,
    example: 'user=YOUR_USER',
    secretWord: 'password',
  });
}

/**
 * Who an OSF token (or user name and password) belongs to, as
 * `datalad osf-credentials` checks before it stores one: GET users/me/.
 * Used by `annexd credentials set NAME type=osf`, outside any git-annex run.
 */
import { RemoteError } from '../../protocol/errors.js';
import type { Credential } from '../core/credentials.js';
import { networkProblem } from '../core/net-errors.js';
import { DEFAULT_API } from './config.js';
import { NotOsfError, OsfHttpError } from './errors.js';
import { currentUser, openOsf } from './nodes.js';

/** The account's name (else its id); throws one line naming the fix when OSF refuses the credential. */
export async function osfIdentity(credential: Credential, api = DEFAULT_API): Promise<string> {
  const osf = await openOsf(credential, api, AbortSignal.timeout(30_000));
  try {
    const user = await currentUser(osf);
    return user.name ? `${user.name} (${user.id})` : user.id;
  } catch (err) {
    if (err instanceof NotOsfError) throw new RemoteError(`${osf.api} does not look like the OSF API v2 (${err.reason}): check api=`);
    if (err instanceof OsfHttpError && (err.status === 401 || err.status === 403)) {
      throw new RemoteError(
        `OSF at ${osf.api} refused this ${credential.user ? 'user name and password' : 'token'} (HTTP ${err.status}): it is wrong, expired or revoked; nothing was stored (create a token at https://osf.io/settings/tokens, scope osf.full_write)`,
        { cause: err },
      );
    }
    const net = networkProblem(err, osf.api);
    if (net) throw new RemoteError(`${net}; nothing was stored (--no-check stores it without asking OSF)`, { cause: err });
    throw err;
  } finally {
    await osf.close();
  }
}

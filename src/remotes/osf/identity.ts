/**
 * Who an OSF token (or user name and password) belongs to, as
 * `datalad osf-credentials` checks before it stores one: GET users/me/.
 * Used by `annexd credentials set NAME type=osf`, outside any git-annex run.
 */
import type { AnnexApi, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { Credential } from '../core/credentials.js';
import { networkProblem } from '../core/net-errors.js';
import { OsfClient } from './client.js';
import { DEFAULT_API, DEFAULT_REQUEST_RATE } from './config.js';
import { OsfHttpError } from './errors.js';

/** What a request outside git-annex may send it: nothing (there is no git-annex to tell). */
const NO_ANNEX = { debug: async () => undefined, info: async () => undefined } as Pick<AnnexApi, 'debug' | 'info'>;

/** The account's name (else its id); throws one line naming the fix when OSF refuses the credential. */
export async function osfIdentity(credential: Credential, api = DEFAULT_API): Promise<string> {
  const base = api.endsWith('/') ? api : `${api}/`;
  const client = await OsfClient.connect(base, credential, DEFAULT_REQUEST_RATE);
  const ctx = { annex: NO_ANNEX as AnnexApi, signal: AbortSignal.timeout(30_000) } satisfies RequestContext;
  try {
    const { body } = await client.json('GET', `${base}users/me/`, ctx, [200]);
    const data = (body as { data?: { id?: string; type?: string; attributes?: { full_name?: string } } }).data;
    if (data?.type !== 'users') throw new RemoteError(`${base} does not look like the OSF API v2 (users/me/ answered without a user): check api=`);
    return data.attributes?.full_name ? `${data.attributes.full_name} (${data.id})` : (data.id ?? '(unknown)');
  } catch (err) {
    if (err instanceof OsfHttpError && (err.status === 401 || err.status === 403)) {
      throw new RemoteError(
        `OSF at ${base} refused this ${credential.user ? 'user name and password' : 'token'} (HTTP ${err.status}): it is wrong, expired or revoked; nothing was stored (create a token at https://osf.io/settings/tokens, scope osf.full_write)`,
        { cause: err },
      );
    }
    const net = networkProblem(err, base);
    if (net) throw new RemoteError(`${net}; nothing was stored (--no-check stores it without asking OSF)`, { cause: err });
    throw err;
  } finally {
    await client.close();
  }
}

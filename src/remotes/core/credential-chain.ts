/**
 * The lookup chain every remote uses, written once; a backend supplies only
 * its variables and property names. First hit wins, nothing ever prompts:
 * the variables users already set; the remote's credential=NAME in annexd's
 * store (DataLad's of that name if annexd has none), which must exist, a typo
 * must not fall through to other credentials; else a stored credential whose
 * realm is the server's host; the pair remembered at initremote; git-annex's
 * creds (embedcreds); the user's git credential helpers for the URL.
 */
import type { RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import {
  findCredential,
  fromCredentialStore,
  fromDatalad,
  fromGitAnnex,
  fromGitCredentialHelper,
  type Credential,
  type CredentialSource,
} from './credentials.js';
import { fromLocalFile } from './local-creds.js';

export interface CredentialChain {
  /** The variables users already set for this kind of server (AWS_*, WEBDAV_*), if there are such. */
  environment?: CredentialSource;
  /** The remote's credential=NAME, if any. */
  named: string | undefined;
  /** The stored credential's property holding the identity (S3: key_id; WebDAV: user). */
  userProp: string;
  /** Whether a credential without that property is a token (user ''), not an error. */
  userOptional?: boolean;
  /** The same in DataLad's credentials, in order of preference, and DataLad's type for legacy layouts. */
  dataladUserProps: string[];
  dataladType?: string;
  /** The server's URL: its host is the realm, and git's credential helpers are asked for it. */
  url: string;
  /** Name of the pair remembered at initremote. */
  remembered: string;
  /** Words for the "not found" message: the example property and what the secret is called. */
  example: string;
  secretWord: string;
}

/** The first credential the chain yields; undefined when none (the backend decides whether that is an error). */
export async function lookupCredential(ctx: RequestContext, chain: CredentialChain): Promise<Credential | undefined> {
  if (chain.named) {
    const named = await findCredential(
      [
        chain.environment,
        fromCredentialStore({ name: chain.named, userProp: chain.userProp, userOptional: chain.userOptional }),
        fromDatalad(chain.named, chain.dataladUserProps, chain.dataladType),
      ],
      ctx,
    );
    if (named) return named;
    throw new RemoteError(
      `credential "${chain.named}" not found: create it with "annexd credentials set ${chain.named} ${chain.example}" (the ${chain.secretWord} is read from the prompt or stdin)`,
    );
  }
  return findCredential(
    [
      chain.environment,
      fromCredentialStore({ realm: new URL(chain.url).host, userProp: chain.userProp, userOptional: chain.userOptional }),
      fromLocalFile(chain.remembered),
      fromGitAnnex(chain.remembered),
      fromGitCredentialHelper(chain.url),
    ],
    ctx,
  );
}

/**
 * The S3 credential chain: environment, then the pair remembered at initremote
 * (local file; git-annex's creds only with embedcreds=yes), then an AWS profile.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import { findCredential, fromEnvironment, fromGitAnnex, type Credential } from '../core/credentials.js';
import { fromLocalFile } from '../core/local-creds.js';

/** Name of the remembered key pair (local file, or git-annex's creds with embedcreds=yes). */
export const CREDS_SETTING = 'annexd-s3';

export type S3Auth = { credential: Credential } | { profile: string | undefined };

/** True when an AWS shared config could supply credentials (so the SDK's own chain is worth asking). */
function awsProfileAvailable(env: NodeJS.ProcessEnv): boolean {
  if (env.AWS_PROFILE) return true;
  const creds = env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), '.aws', 'credentials');
  const config = env.AWS_CONFIG_FILE ?? join(homedir(), '.aws', 'config');
  return existsSync(creds) || existsSync(config);
}

export async function resolveS3Auth(ctx: RequestContext, env: NodeJS.ProcessEnv = process.env): Promise<S3Auth> {
  const credential = await findCredential(
    [
      fromEnvironment('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', env),
      fromLocalFile(CREDS_SETTING),
      fromGitAnnex(CREDS_SETTING),
    ],
    ctx,
  );
  if (credential) return { credential };
  if (awsProfileAvailable(env)) return { profile: env.AWS_PROFILE };
  throw new RemoteError(
    'no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (at initremote or enableremote git-annex then remembers them for this repository), or AWS_PROFILE',
  );
}

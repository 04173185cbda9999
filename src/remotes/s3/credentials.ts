/** The S3 credential chain: environment, then what git-annex stored at initremote, then an AWS profile. */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import { findCredential, fromEnvironment, fromGitAnnex, type Credential } from '../core/credentials.js';

/** The SETCREDS/GETCREDS setting name under which git-annex keeps our key pair. */
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
    [fromEnvironment('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', env), fromGitAnnex(CREDS_SETTING)],
    ctx,
  );
  if (credential) return { credential };
  if (awsProfileAvailable(env)) return { profile: env.AWS_PROFILE };
  throw new RemoteError(
    'no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (at initremote or enableremote git-annex then remembers them for this repository), or AWS_PROFILE',
  );
}

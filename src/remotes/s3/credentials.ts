import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RequestContext } from '../../protocol/contract.js';
import { lookupCredential } from '../core/credential-chain.js';
import { fromEnvironment, MissingCredentialsError, type Credential } from '../core/credentials.js';
import { endpointUrl, type S3Settings } from './config.js';

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

/** The shared chain with S3's names, then an AWS profile; no credential at all is an error. */
export async function resolveS3Auth(ctx: RequestContext, s: S3Settings, env: NodeJS.ProcessEnv = process.env): Promise<S3Auth> {
  const credential = await lookupCredential(ctx, {
    environment: fromEnvironment('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', env),
    named: s.credential,
    userProp: 'key_id',
    // datalad-next keeps an S3 key id in `user`; legacy DataLad in `key_id` (read as `key-id`).
    dataladUserProps: ['user', 'key-id', 'key_id', 'key'],
    dataladType: 'aws-s3',
    url: endpointUrl(s),
    remembered: CREDS_SETTING,
    example: 'key_id=YOUR_KEY_ID',
    secretWord: 'secret key',
  });
  if (credential) return { credential };
  if (awsProfileAvailable(env)) return { profile: env.AWS_PROFILE };
  throw new MissingCredentialsError(
    'no S3 credentials: store them with "annexd credentials set NAME key_id=YOUR_KEY_ID" and add credential=NAME to the remote (git annex enableremote REMOTE credential=NAME), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE',
  );
}

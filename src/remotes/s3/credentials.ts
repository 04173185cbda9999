import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
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
import type { S3Settings } from './config.js';

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

/**
 * The chain, first hit wins: AWS_* variables; the named annexd credential
 * (credential=NAME; DataLad's credential of that name if annexd has none);
 * else an annexd credential whose realm is the endpoint's host; the pair
 * remembered at initremote; git-annex's creds (embedcreds); the user's git
 * credential helpers for the endpoint; an AWS profile. Nothing ever prompts.
 */
export async function resolveS3Auth(ctx: RequestContext, s: S3Settings, env: NodeJS.ProcessEnv = process.env): Promise<S3Auth> {
  const endpoint = s.endpoint ?? `https://s3.${s.region}.amazonaws.com`;
  const environment = fromEnvironment('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', env);
  if (s.credential) {
    // A credential named in the remote's config must exist: falling through to others would hide a typo.
    const named = await findCredential(
      [environment, fromCredentialStore({ name: s.credential, userProp: 'key_id' }), fromDatalad(s.credential, ['user', 'key-id', 'key_id', 'key'], 'aws-s3')],
      ctx,
    );
    if (named) return { credential: named };
    throw new RemoteError(
      `credential "${s.credential}" not found: create it with "annexd credentials set ${s.credential} key_id=YOUR_KEY_ID" (the secret key is read from the prompt or stdin)`,
    );
  }
  const credential = await findCredential(
    [
      environment,
      fromCredentialStore({ realm: new URL(endpoint).host, userProp: 'key_id' }),
      fromLocalFile(CREDS_SETTING),
      fromGitAnnex(CREDS_SETTING),
      fromGitCredentialHelper(endpoint),
    ],
    ctx,
  );
  if (credential) return { credential };
  if (awsProfileAvailable(env)) return { profile: env.AWS_PROFILE };
  throw new RemoteError(
    'no S3 credentials: store them with "annexd credentials set NAME key_id=YOUR_KEY_ID" and add credential=NAME to the remote (git annex enableremote REMOTE credential=NAME), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE',
  );
}

/**
 * dlacredential=NAME, as datalad-next reads it: a DataLad credential handed to
 * git-annex's own S3, glacier and WebDAV remotes (and annexd's, which read the
 * same variables) through their environment variables. Never prompts; a
 * variable already set wins, as with datalad-next.
 */
import { findDataladCredential } from '../credentials/datalad.js';
import { registerSecret } from '../util/redact.js';
import { GitRemoteError } from './errors.js';
import { param, type RemoteSpec } from './url.js';

/** datalad-next's specialremote_credential_envmap: which variables carry user and secret. */
const ENV_MAP: Record<string, [string, string]> = {
  s3: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  glacier: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  webdav: ['WEBDAV_USERNAME', 'WEBDAV_PASSWORD'],
  'annexd-s3': ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  'annexd-webdav': ['WEBDAV_USERNAME', 'WEBDAV_PASSWORD'],
};

export async function credentialEnv(spec: RemoteSpec, gitDir: string): Promise<NodeJS.ProcessEnv> {
  if (!spec.credential) return {};
  const type = (param(spec.params, 'type') === 'external' ? param(spec.params, 'externaltype') : param(spec.params, 'type'))?.toLowerCase() ?? '';
  const vars = ENV_MAP[type];
  if (!vars) throw new GitRemoteError(`${spec.display}: dlacredential= works with type=S3, glacier and webdav (and annexd-s3, annexd-webdav), not "${type}": remove it and give that remote's own credentials`);
  if (process.env[vars[0]] && process.env[vars[1]]) return {};
  const cred = await findDataladCredential(spec.credential, { cwd: gitDir, env: { ...process.env, GIT_DIR: gitDir }, typeHint: 'user_password' }).catch((err: Error) => {
    throw new GitRemoteError(`dlacredential=${spec.credential}: ${err.message}`);
  });
  const user = cred?.props.user ?? cred?.props['key-id'] ?? cred?.props.key;
  if (!cred || !user) {
    throw new GitRemoteError(
      `dlacredential=${spec.credential}: DataLad has no credential of that name with a user and a secret (datalad credentials set ${spec.credential} user=… secret=…, or set ${vars[0]} and ${vars[1]})`,
    );
  }
  registerSecret(cred.secret);
  return { [vars[0]]: user, [vars[1]]: cred.secret };
}

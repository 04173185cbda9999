/**
 * A special remote's configuration and a RequestContext for it, read from the
 * local repository, for annexd commands that act on a remote without git-annex
 * running it (e.g. cleaning up its abandoned uploads). The AnnexApi answers
 * what a remote asks while it sets itself up, as git-annex would:
 *
 * - GETCONFIG: the remote's settings in the git-annex branch's remote.log
 *   (and the uncommitted journal), newest line per UUID winning, values
 *   unescaped as git-annex writes them ("&32;" for a space, "&38;" for "&").
 *   Per-repository settings (repo-settings) are the backend's layer above,
 *   as when git-annex runs the remote;
 * - GETUUID / GETGITDIR / GETGITREMOTENAME: the remote's UUID
 *   (git config remote.NAME.annex-uuid), the absolute git directory, NAME;
 * - GETCREDS: git-annex's own lookup for external remotes: the variables
 *   <uuid>-<setting>login / …password, the cache in .git/annex/creds/, then
 *   creds embedded in remote.log (embedcreds=yes, when not gpg-encrypted);
 * - INFO / DEBUG: to the caller's callbacks, secrets redacted.
 *
 * Everything that would change the repository (SETCONFIG, SETCREDS, SETSTATE,
 * SETURLPRESENT, …) is refused: these commands only read.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AnnexApi, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import { exec } from '../../util/exec.js';
import { redact } from '../../util/redact.js';
import { readRemoteLog } from './repo-settings.js';

export interface LocalRemote {
  /** The name it was asked for. */
  name: string;
  uuid: string;
  /** Absolute path of the repository's git directory. */
  gitDir: string;
  /** Its settings from remote.log (name, type, externaltype, bucket, …), unescaped. */
  config: Readonly<Record<string, string>>;
}

async function git(args: string[], cwd: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec('git', args, { cwd, env: process.env });
}

/** Each remote's settings in remote.log; a repository without a git-annex branch is named as such. */
async function remoteLogOf(gitDir: string, cwd: string | undefined): Promise<Map<string, Record<string, string>>> {
  const branch = await git(['rev-parse', '--verify', '--quiet', 'refs/heads/git-annex'], cwd);
  if (branch.code !== 0) {
    throw new RemoteError('this git repository has no git-annex branch: run annexd in the git-annex repository that has the remote (or git annex init first)');
  }
  return readRemoteLog(gitDir);
}

/**
 * The special remote NAME of the repository at `cwd`: by its git remote
 * (remote.NAME.annex-uuid), else by the name it was given at initremote
 * (one not enabled in this clone yet).
 */
export async function findLocalRemote(name: string, options: { cwd?: string } = {}): Promise<LocalRemote> {
  const cwd = options.cwd;
  const dir = await git(['rev-parse', '--absolute-git-dir'], cwd);
  if (dir.code !== 0) {
    throw new RemoteError(`not in a git repository (${dir.stderr.trim().split('\n')[0] ?? 'git rev-parse failed'}): run annexd inside the git-annex repository that has the remote`);
  }
  const gitDir = dir.stdout.trim();
  const log = await remoteLogOf(gitDir, cwd);
  const configured = await git(['config', '--get', `remote.${name}.annex-uuid`], cwd);
  let uuid = configured.code === 0 ? configured.stdout.trim() : '';
  if (!uuid) {
    const named = [...log].filter(([, config]) => config.name === name).map(([u]) => u);
    if (named.length > 1) {
      throw new RemoteError(`several special remotes are named "${name}" (${named.join(', ')}): enable the one you mean with git annex enableremote, then use its git remote name`);
    }
    uuid = named[0] ?? '';
  }
  if (!uuid) {
    throw new RemoteError(`no remote named "${name}" in this repository: git annex info lists its remotes (a special remote's name is the one given to git annex initremote)`);
  }
  const config = log.get(uuid);
  if (!config) {
    throw new RemoteError(
      `remote "${name}" (${uuid}) has no special remote configuration in the git-annex branch: is it a special remote? (if it was set up in another clone, run git annex merge first)`,
    );
  }
  return { name, uuid, gitDir, config };
}

export interface LocalContextOptions {
  signal?: AbortSignal;
  /** What the remote would show the user (INFO); secrets already redacted. */
  info?(message: string): void;
  /** What the remote would show with --debug (DEBUG); secrets already redacted. */
  debug?(message: string): void;
  env?: NodeJS.ProcessEnv;
}

/** git-annex's GETCREDS for an external remote, read-only (nothing is cached or written). */
async function localCreds(remote: LocalRemote, setting: string, env: NodeJS.ProcessEnv, debug: (m: string) => void): Promise<{ user: string; password: string } | undefined> {
  // git-annex's name for the pair: "<uuid>-<setting>", with any "/" as "_".
  const base = `${remote.uuid}-${setting}`.replaceAll('/', '_');
  const user = env[`${base}login`];
  const password = env[`${base}password`];
  if (user !== undefined && password !== undefined) return { user, password };
  const decode = (text: string): { user: string; password: string } | undefined => {
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.length === 2 ? { user: lines[0] as string, password: lines[1] as string } : undefined;
  };
  const cached = await readFile(join(remote.gitDir, 'annex', 'creds', base), 'utf8').catch(() => undefined);
  if (cached !== undefined) return decode(cached);
  const embedded = remote.config[setting];
  if (!embedded) return undefined;
  if (remote.config.cipher) {
    debug(`the credentials embedded in remote.log for ${remote.name} are gpg-encrypted; any git-annex command that uses the remote caches them for annexd`);
    return undefined;
  }
  return decode(Buffer.from(embedded, 'base64').toString('utf8'));
}

/** A RequestContext for `remote` that answers from the local repository. */
export function localContext(remote: LocalRemote, options: LocalContextOptions = {}): RequestContext {
  const env = options.env ?? process.env;
  const debug = (m: string): void => options.debug?.(redact(m));
  const refuse = (what: string) => async (): Promise<never> => {
    throw new RemoteError(`${what} is not available outside git-annex: this annexd command only reads the repository`);
  };
  const annex: AnnexApi = {
    getConfig: async (name) => remote.config[name] ?? '',
    setConfig: refuse('SETCONFIG'),
    getCreds: (setting) => localCreds(remote, setting, env, debug),
    setCreds: refuse('SETCREDS'),
    getUUID: async () => remote.uuid,
    getGitDir: async () => Buffer.from(remote.gitDir),
    getGitRemoteName: async () => remote.name,
    dirhash: refuse('DIRHASH'),
    dirhashLower: refuse('DIRHASH-LOWER'),
    getState: refuse('GETSTATE'),
    setState: refuse('SETSTATE'),
    getWanted: refuse('GETWANTED'),
    setWanted: refuse('SETWANTED'),
    setUrlPresent: refuse('SETURLPRESENT'),
    setUrlMissing: refuse('SETURLMISSING'),
    setUriPresent: refuse('SETURIPRESENT'),
    setUriMissing: refuse('SETURIMISSING'),
    getUrls: refuse('GETURLS'),
    progress: async () => undefined,
    debug: async (m) => debug(m),
    info: async (m) => options.info?.(redact(m)),
  };
  return { annex, signal: options.signal ?? new AbortController().signal };
}

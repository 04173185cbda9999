/**
 * Settings that are each repository's own choice, not the remote's. git-annex
 * stores every initremote/enableremote setting in the git-annex branch
 * (remote.log), which every clone merges: a credential=NAME given in one
 * repository would then be used, and fail, in all of them. Such settings are
 * kept in the repository (.git/annex/annexd/remotes/<uuid>.json, owner-only)
 * and kept out of remote.log; a value found in remote.log (written by annexd
 * before this, or by hand) is only a default, used where it makes sense.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../../protocol/contract.js';
import { exec } from '../../util/exec.js';

/** Per setting: whether a value shared through remote.log can be used in this repository. */
export type SharedDefaultCheck = (value: string) => Promise<boolean>;

/** The shared config of each remote (by UUID) in remote.log text: the newest line of each wins. */
export function parseRemoteLog(text: string): Map<string, Record<string, string>> {
  const newest = new Map<string, { time: number; fields: Record<string, string> }>();
  for (const line of text.split('\n')) {
    const [uuid, ...words] = line.trim().split(/\s+/);
    if (!uuid || words.length === 0) continue;
    const fields: Record<string, string> = {};
    let time = 0;
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq <= 0) continue;
      const k = w.slice(0, eq);
      // git-annex writes characters that would break a line as &NN; (decimal code points).
      const v = w.slice(eq + 1).replace(/&(\d+);/g, (_m, n: string) => String.fromCodePoint(Number(n)));
      if (k === 'timestamp') time = Number.parseFloat(v) || 0;
      else fields[k] = v;
    }
    const seen = newest.get(uuid);
    if (!seen || time >= seen.time) newest.set(uuid, { time, fields });
  }
  return new Map([...newest].map(([u, { fields }]) => [u, fields]));
}

/**
 * This remote's config as remote.log has it, including changes git-annex has
 * journalled but not committed yet; undefined when the remote is not
 * registered (a first initremote), which tells it apart from enableremote.
 */
export async function sharedConfig(ctx: RequestContext): Promise<Record<string, string> | undefined> {
  const gitDir = (await ctx.annex.getGitDir()).toString();
  return (await readRemoteLog(gitDir)).get(await ctx.annex.getUUID());
}

/**
 * Every remote's shared config: the git-annex branch's remote.log and the
 * journal's changes git-annex has not committed yet (public and private);
 * the newest line of each remote wins, wherever it is.
 */
export async function readRemoteLog(gitDir: string): Promise<Map<string, Record<string, string>>> {
  const committed = await exec('git', ['--git-dir', gitDir, 'cat-file', 'blob', 'git-annex:remote.log']);
  const texts = [committed.code === 0 ? committed.stdout : ''];
  for (const journal of ['journal', 'journal-private']) {
    texts.push(await readFile(`${gitDir}/annex/${journal}/remote.log`, 'utf8').catch(() => ''));
  }
  return parseRemoteLog(texts.join('\n'));
}

async function localFile(ctx: RequestContext): Promise<{ dir: string; file: string }> {
  const gitDir = (await ctx.annex.getGitDir()).toString();
  const uuid = await ctx.annex.getUUID();
  if (!/^[0-9a-zA-Z-]+$/.test(uuid)) throw new Error(`unexpected remote uuid "${uuid}"`);
  const dir = `${gitDir}/annex/annexd/remotes`;
  return { dir, file: `${dir}/${uuid}.json` };
}

/** This repository's own values for the remote. */
export async function readLocalSettings(ctx: RequestContext): Promise<Record<string, string>> {
  const { file } = await localFile(ctx);
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

export async function writeLocalSettings(ctx: RequestContext, values: Record<string, string>): Promise<void> {
  const { dir, file } = await localFile(ctx);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(values, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  await rename(tmp, file);
}

/** How one request sees the per-repository settings: the values to use and, at INITREMOTE, what to keep. */
export interface RepoSettingsView {
  /** The value to use for a setting ('' when unset), given git-annex's (shared or just given) value. */
  value(name: string, annexValue: string): string;
  /** After a successful INITREMOTE: keep the choices made here, and keep them out of remote.log. */
  commit(ctx: RequestContext): Promise<void>;
}

/**
 * At INITREMOTE a value that differs from remote.log's was just given by the
 * user: it becomes this repository's choice. A value equal to remote.log's,
 * and any at PREPARE without a local choice, is shared: used only when
 * `usable` says it makes sense here (e.g. that credential exists here).
 */
export async function repoSettings(
  ctx: RequestContext,
  checks: Record<string, SharedDefaultCheck>,
  phase: 'initremote' | 'prepare',
  shared?: Record<string, string>,
): Promise<RepoSettingsView> {
  const local = await readLocalSettings(ctx);
  const resolved: Record<string, string> = {};
  for (const [name, usable] of Object.entries(checks)) {
    const annexValue = await ctx.annex.getConfig(name);
    if (phase === 'initremote' && annexValue !== '' && annexValue !== (shared?.[name] ?? '')) {
      resolved[name] = annexValue;
    } else if (local[name] !== undefined) {
      resolved[name] = local[name];
    } else if (annexValue !== '' && (await usable(annexValue))) {
      resolved[name] = annexValue;
    } else {
      if (annexValue !== '') void ctx.annex.debug(`${name}=${annexValue} from the git-annex branch is not usable in this repository: ignored`);
      resolved[name] = '';
    }
  }
  return {
    value: (name, annexValue) => (name in checks ? (resolved[name] ?? '') : annexValue),
    async commit(c) {
      const keep = Object.fromEntries(Object.entries(resolved).filter(([, v]) => v !== ''));
      if (Object.entries(keep).some(([k, v]) => local[k] !== v)) await writeLocalSettings(c, { ...local, ...keep });
      // Sent during INITREMOTE, this replaces the value git-annex would record in remote.log.
      for (const name of Object.keys(checks)) if ((await c.annex.getConfig(name)) !== '') await c.annex.setConfig(name, '');
    },
  };
}

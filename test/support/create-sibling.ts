/** What the create-sibling-* tests read back: JSON records, git config, remote.log, and a clone that gets content. */
import { join } from 'node:path';
import { expect } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { AnnexRepo, type Sandbox } from './annex.js';

export const records = (r: ExecResult): Array<Record<string, unknown>> =>
  r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

export const config = async (repo: AnnexRepo, key: string): Promise<string[]> =>
  (await repo.run('git', ['config', '--get-all', key])).stdout.split('\n').filter(Boolean);

/** The remote.log line of the special remote NAME ('' when there is none). */
export async function remoteLogLine(repo: AnnexRepo, name: string): Promise<string> {
  const log = (await repo.run('git', ['cat-file', 'blob', 'git-annex:remote.log'])).stdout;
  return log.split('\n').find((l) => l.includes(` name=${name} `)) ?? '';
}

/** `git clone URL`, then `git annex get FILE` through the storage sibling the clone enabled itself; the file's content. */
export async function cloneAndGet(sandbox: Sandbox, url: string, dir: string, file: string, credsEnv: NodeJS.ProcessEnv): Promise<string> {
  const path = join(sandbox.dir, dir);
  const env = { ...sandbox.env, ...credsEnv };
  const clone = await exec('git', ['clone', '-q', url, path], { env });
  expect(clone.code, clone.stderr).toBe(0);
  const cloned = new AnnexRepo(path, env);
  await cloned.ok('git', 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
  await cloned.ok('git', 'annex', 'init', '-q');
  await cloned.ok('git', 'annex', 'get', file);
  return (await cloned.ok('cat', file)).stdout;
}

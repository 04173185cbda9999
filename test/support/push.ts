/**
 * Datasets, bare sibling repositories and `annexd push|siblings` runs for the
 * orchestration tests: real git, git-annex and annexd's own command line.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { AnnexRepo, createSandbox, type Sandbox } from './annex.js';
import { startTestS3, type TestS3 } from './s3.js';
import { startTestDav, type TestDav } from './webdav.js';
import { BIN_DIR } from './tools.js';

/** Fixed dates, so the same steps make the same commits in two datasets. */
export const FIXED_DATES = { GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z' };

/** A git-annex dataset with annexed files (and one file in git), committed. */
export async function dataset(sandbox: Sandbox, name: string, files: Record<string, string>, readme = `dataset ${name}\n`): Promise<AnnexRepo> {
  const ds = await AnnexRepo.create(sandbox, name);
  await ds.write('README.md', readme);
  await ds.ok('git', 'add', 'README.md');
  for (const [rel, content] of Object.entries(files)) await ds.write(rel, content);
  await ds.ok('git', 'annex', 'add', '--quiet', ...Object.keys(files));
  await ds.okEnv(FIXED_DATES, 'git', 'commit', '-q', '-m', 'files');
  return ds;
}

let bares = 0;

/** A bare git-annex repository to be a git sibling. */
export async function bareSibling(sandbox: Sandbox, name: string): Promise<string> {
  const path = join(sandbox.dir, `${name}-${++bares}.git`);
  const r = await exec('git', ['init', '-q', '--bare', path], { env: sandbox.env });
  expect(r.code, r.stderr).toBe(0);
  const a = await exec('git', ['annex', 'init', '-q', name], { env: sandbox.env, cwd: path });
  expect(a.code, a.stderr).toBe(0);
  return path;
}

/**
 * A pre-receive hook in a bare repository that appends a line to `log` at
 * every push, running `probe` first (its output in the line): what the
 * sibling's dependencies held at the moment the refs arrived.
 */
export async function recordPushes(bare: string, log: string, probe: string): Promise<void> {
  await mkdir(join(bare, 'hooks'), { recursive: true });
  const hook = join(bare, 'hooks', 'pre-receive');
  await writeFile(hook, `#!/bin/sh\nrefs=$(cat | awk '{print $3}' | tr '\\n' ' ')\necho "push $(${probe}) $refs" >> '${log}'\n`);
  await chmod(hook, 0o755);
}

/** A directory special remote (optionally an export remote). */
export async function directoryRemote(ds: AnnexRepo, sandbox: Sandbox, name: string, extra: string[] = []): Promise<string> {
  const dir = join(sandbox.dir, `dir-${name}-${++bares}`);
  await mkdir(dir);
  await ds.ok('git', 'annex', 'initremote', name, 'type=directory', `directory=${dir}`, 'encryption=none', ...extra);
  return dir;
}

/** `annexd ARGS` in the dataset, as a user runs it. */
export function annexd(ds: AnnexRepo, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ExecResult> {
  return exec(join(BIN_DIR, 'annexd'), args, { cwd: ds.path, env: { ...ds.env, ...env }, input: '' });
}

export interface Rec {
  action: string;
  status: string;
  path: string;
  type?: string;
  target?: string;
  message?: string;
  error_message?: string;
  refspec?: string;
  operations?: string[];
  annexkey?: string;
  refds?: string;
}

/** `annexd push --json ARGS`: the records, and the run. */
export async function pushJson(ds: AnnexRepo, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ r: ExecResult; records: Rec[] }> {
  const r = await annexd(ds, ['push', '--json', ...args], env);
  const records = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);
  return { r, records };
}

/** A branch's commit in a repository (bare or not), or '' when it has none. */
export async function refOf(repo: string, ref: string, env: NodeJS.ProcessEnv): Promise<string> {
  const r = await exec('git', ['rev-parse', '--verify', '--quiet', ref], { cwd: repo, env });
  return r.code === 0 ? r.stdout.trim() : '';
}

/** Names of the remotes `git annex whereis` lists for a file (here excluded). */
export async function whereis(ds: AnnexRepo, file: string): Promise<string[]> {
  const r = await ds.ok('git', 'annex', 'whereis', '--json', file);
  const j = JSON.parse(r.stdout.trim().split('\n')[0] ?? '{}') as { whereis?: Array<{ description: string; here: boolean }> };
  return (j.whereis ?? [])
    .filter((w) => !w.here)
    .map((w) => /\[([^\]]+)\]$/.exec(w.description)?.[1] ?? w.description)
    .sort();
}

export interface StorageServers {
  readonly sandbox: Sandbox;
  readonly s3: TestS3;
  readonly dav: TestDav;
}

/** beforeAll/afterAll giving a test file a sandbox, the embedded S3 server and a lighttpd WebDAV server. */
export function useStorageServers(): StorageServers {
  const suite: { sandbox?: Sandbox; s3?: TestS3; dav?: TestDav } = {};
  beforeAll(async () => {
    suite.sandbox = await createSandbox();
    suite.s3 = await startTestS3(suite.sandbox.dir);
    suite.dav = await startTestDav('lighttpd', suite.sandbox.dir);
  });
  afterAll(async () => {
    await suite.s3?.stop();
    await suite.dav?.stop();
    await suite.sandbox?.cleanup();
  });
  return suite as StorageServers;
}

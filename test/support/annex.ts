/**
 * Real git-annex repositories for integration tests: an isolated HOME and git
 * identity, bin/ on PATH so git-annex finds our remotes, loopback allowed.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { BIN_DIR, requireBuild, requireTool } from './tools.js';

export interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export async function createSandbox(extraEnv: NodeJS.ProcessEnv = {}): Promise<Sandbox> {
  requireTool('git', 'apt-get install -y git');
  requireTool('git-annex', 'apt-get install -y git-annex');
  requireTool('gpg', 'apt-get install -y gnupg');
  requireBuild();
  const dir = await mkdtemp(join(tmpdir(), 'annexd-test-'));
  const home = join(dir, 'home');
  await mkdir(home);
  const env: NodeJS.ProcessEnv = {
    PATH: `${BIN_DIR}${delimiter}${process.env.PATH ?? ''}`,
    HOME: home,
    // Shared state of annexd processes (OSF's request budget) stays in the sandbox.
    ANNEXD_RUNTIME_DIR: join(dir, 'run'),
    LANG: 'C.UTF-8',
    GIT_AUTHOR_NAME: 'annexd test',
    GIT_AUTHOR_EMAIL: 'test@annexd.invalid',
    GIT_COMMITTER_NAME: 'annexd test',
    GIT_COMMITTER_EMAIL: 'test@annexd.invalid',
    GIT_CONFIG_NOSYSTEM: '1',
    ...extraEnv,
  };
  await writeFile(join(home, '.gitconfig'), '[init]\n\tdefaultBranch = main\n');
  return { dir, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export class AnnexRepo {
  constructor(
    readonly path: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(sandbox: Sandbox, name = 'repo'): Promise<AnnexRepo> {
    const path = join(sandbox.dir, name);
    const repo = new AnnexRepo(path, sandbox.env);
    await mkdir(path, { recursive: true });
    await repo.ok('git', 'init', '-q');
    await repo.ok('git', 'annex', 'init', '-q', name);
    // git-annex refuses loopback servers unless allowed.
    await repo.ok('git', 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
    return repo;
  }

  static async clone(sandbox: Sandbox, from: AnnexRepo, name: string): Promise<AnnexRepo> {
    const path = join(sandbox.dir, name);
    const r = await exec('git', ['clone', '-q', from.path, path], { env: sandbox.env });
    if (r.code !== 0) throw new Error(`git clone failed: ${r.stderr}`);
    const repo = new AnnexRepo(path, sandbox.env);
    await repo.ok('git', 'annex', 'init', '-q', name);
    await repo.ok('git', 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
    return repo;
  }

  /** Runs a command in the repo; never throws on a non-zero exit. */
  run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ExecResult> {
    return exec(cmd, args, { cwd: this.path, env: { ...this.env, ...env } });
  }

  /** Runs a command and throws with its output when it fails. */
  async ok(cmd: string, ...args: string[]): Promise<ExecResult> {
    return this.okEnv({}, cmd, ...args);
  }

  async okEnv(env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<ExecResult> {
    const r = await this.run(cmd, args, env);
    if (r.code !== 0) {
      throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    }
    return r;
  }

  annex(...args: string[]): Promise<ExecResult> {
    return this.run('git', ['annex', ...args]);
  }

  /** Writes a file (creating directories) relative to the repo. */
  async write(rel: string, content: string | Buffer): Promise<string> {
    const p = join(this.path, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, content);
    return p;
  }

  /** Adds and commits everything. */
  async commitAll(message = 'add files'): Promise<void> {
    await this.ok('git', 'annex', 'add', '--quiet', '.');
    await this.ok('git', 'commit', '-q', '-m', message);
  }

  /** The annex key of a file. */
  async key(rel: string): Promise<string> {
    return (await this.ok('git', 'annex', 'lookupkey', rel)).stdout.trim();
  }
}

/** `git annex initremote NAME type=external externaltype=TYPE encryption=none PARAMS…`, with `env` (credentials) for that call only. */
export async function initExternalRemote(
  repo: { okEnv(env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<unknown> },
  externalType: string,
  name: string,
  params: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  await repo.okEnv(env, 'git', 'annex', 'initremote', name, 'type=external', `externaltype=${externalType}`, 'encryption=none', ...params);
}

/**
 * Registers beforeAll/afterAll that give a test file (or describe block) its
 * own sandbox and a server started in it, reachable as `suite[key]`.
 */
export function useSandboxWith<K extends string, T extends { stop(): Promise<void> }>(
  key: K,
  start: (dir: string) => Promise<T>,
): { readonly sandbox: Sandbox } & { readonly [P in K]: T } {
  const suite: Record<string, unknown> = {};
  beforeAll(async () => {
    const sandbox = await createSandbox();
    suite.sandbox = sandbox;
    suite[key] = await start(sandbox.dir);
  });
  afterAll(async () => {
    await (suite[key] as T | undefined)?.stop();
    await (suite.sandbox as Sandbox | undefined)?.cleanup();
  });
  return suite as { readonly sandbox: Sandbox } & { readonly [P in K]: T };
}

/** Runs `git annex testremote NAME ARGS…` and expects every check to pass (`count` of them, when given). */
export async function expectTestremotePasses(repo: AnnexRepo, name: string, args: string[], count?: number): Promise<void> {
  const r = await repo.annex('testremote', name, ...args);
  const out = r.stdout + r.stderr;
  expect(out, out.slice(-3000)).toMatch(new RegExp(`All ${count ?? '\\d+'} tests passed`));
  expect(out).not.toMatch(/FAIL/);
  expect(r.code).toBe(0);
}

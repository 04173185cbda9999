/** Shared by the git remote helper tests: git commands in a sandbox, and the independent Python deposit tool. */
import { join } from 'node:path';
import { expect } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import type { Sandbox } from '../support/annex.js';
import { REPO_ROOT, requireTool } from '../support/tools.js';

export const PY_DEPOSIT = join(REPO_ROOT, 'test', 'gitremote', 'deposit.py');

export function git(sb: Pick<Sandbox, "env">, cwd: string, ...args: string[]): Promise<ExecResult> {
  return exec('git', args, { cwd, env: sb.env });
}

export async function gitOk(sb: Pick<Sandbox, "env">, cwd: string, ...args: string[]): Promise<string> {
  const r = await git(sb, cwd, ...args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A new repository with one commit per message, on branch main. */
export async function newRepo(sb: Sandbox, name: string, ...messages: string[]): Promise<string> {
  const dir = join(sb.dir, name);
  await exec('git', ['init', '-q', '-b', 'main', dir], { env: sb.env });
  for (const m of messages) await commit(sb, dir, m);
  return dir;
}

export async function commit(sb: Sandbox, dir: string, message: string): Promise<string> {
  await exec('sh', ['-c', `printf '%s\\n' "$1" > "file-$1"`, 'sh', message], { cwd: dir, env: sb.env });
  await gitOk(sb, dir, 'add', '-A');
  await gitOk(sb, dir, 'commit', '-q', '-m', message);
  return (await gitOk(sb, dir, 'rev-parse', 'HEAD')).trim();
}

export async function log(sb: Sandbox, dir: string, ref = 'HEAD'): Promise<string[]> {
  return (await gitOk(sb, dir, 'log', '--format=%s', ref)).trim().split('\n');
}

export function python(args: string[], env: NodeJS.ProcessEnv): Promise<ExecResult> {
  requireTool('/usr/bin/python3', 'apt-get install -y python3');
  return exec('/usr/bin/python3', [PY_DEPOSIT, ...args], { env });
}

/** The helper's own error lines in a failed git command's stderr: exactly one, naming `what`. */
export function expectOneLine(r: ExecResult, program: string, what: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith(`${program}:`));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(what);
  expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
}

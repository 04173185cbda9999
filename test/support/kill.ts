/**
 * Killing a transfer as a crash or power loss would: git-annex and the special
 * remote it started are frozen, then SIGKILLed, so neither can clean up (and
 * git-annex cannot restart the remote and retry, as it does when only the
 * remote dies). Only processes below the test's own git-annex are touched,
 * never remotes of tests running in parallel.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { AnnexRepo } from './annex.js';

/** Processes below `root` (children, grandchildren, …) whose command line contains `needle`. */
export function descendants(root: number, needle: string): number[] {
  const children = new Map<number, number[]>();
  const cmdlines = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name (in parentheses) may hold spaces: the parent pid is the 2nd field after it.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
      cmdlines.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  for (let queue = [root]; queue.length > 0; ) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      if (cmdlines.get(child)?.includes(needle)) found.push(child);
      queue.push(child);
    }
  }
  return found;
}

export async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Runs `git annex ARGS` in `repo`; once `midway()` says the transfer is under
 * way, kills git-annex together with the remote `program` it started, and
 * returns what git-annex had said.
 */
export async function killMidway(repo: AnnexRepo, args: string[], program: string, midway: () => boolean): Promise<string> {
  const child = spawn('git', ['annex', ...args], { cwd: repo.path, env: repo.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  let done = false;
  const exited = new Promise<void>((resolve) =>
    child.on('close', () => {
      done = true;
      resolve();
    }),
  );
  try {
    await until('the transfer to be under way', () => midway() || done);
    if (done) throw new Error('git-annex finished before the transfer was under way');
    const root = child.pid as number;
    const remotes = descendants(root, program);
    if (remotes.length !== 1) throw new Error(`expected one ${program} below git-annex, found ${remotes.length}`);
    const tree = [root, ...descendants(root, '')];
    for (const pid of tree) process.kill(pid, 'SIGSTOP');
    for (const pid of tree) process.kill(pid, 'SIGKILL');
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; git-annex said:\n${output}`);
  }
  await exited;
  return output;
}

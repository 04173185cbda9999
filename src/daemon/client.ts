/**
 * Finding and asking a running daemon: serve.json in the state directory
 * (url, token, pid; 0600) says where it listens, and the pid whether it lives.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errCode, errText } from '../util/file-lock.js';
import { DaemonError } from './errors.js';

export interface ServeInfo {
  url: string;
  token: string;
  pid: number;
  /** The kernel's boot id and the process's start time (clock ticks after boot): a pid alive after a reboot is another process. */
  bootId?: string;
  startTicks?: number;
}

export const serveFile = (dir: string): string => join(dir, 'serve.json');

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM';
  }
}

/** This boot's id (Linux); undefined elsewhere. */
export function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** When process `pid` started, in clock ticks after boot (Linux); undefined when unknown. */
export function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name before it (in parentheses) may hold spaces.
    const t = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

/** Whether serve.json describes a process alive now: the same pid, boot and start time. */
function isThatDaemon(info: ServeInfo): boolean {
  if (!Number.isSafeInteger(info.pid) || info.pid <= 0 || !isAlive(info.pid)) return false;
  const boot = bootId();
  if (info.bootId && boot && info.bootId !== boot) return false;
  const ticks = startTicks(info.pid);
  return !(info.startTicks !== undefined && ticks !== undefined && info.startTicks !== ticks);
}

/**
 * serve.lock holds only a pid. After a reboot that pid may be some other
 * process, alive: the lock is stale when serve.json names that pid and is
 * stale itself, or (no serve.json) the holder is not an annexd at all.
 */
export async function dropStaleServeLock(dir: string): Promise<void> {
  const lock = join(dir, 'serve.lock');
  const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || !isAlive(pid)) return;
  let info: ServeInfo | undefined;
  try {
    info = JSON.parse(await readFile(serveFile(dir), 'utf8')) as ServeInfo;
  } catch {
    info = undefined;
  }
  const cmdline = (): string => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return ''; // gone meanwhile, or not ours to read: not our daemon either way
    }
  };
  // Without /proc (not Linux) a live pid cannot be told apart: the lock stands.
  const stale = info && info.pid === pid ? !isThatDaemon(info) : existsSync('/proc/self/cmdline') && !cmdline().includes('annexd');
  if (stale) await unlink(lock).catch(() => undefined);
}

/** The running daemon's address, or undefined when none runs on this state directory. */
export async function runningDaemon(dir: string): Promise<ServeInfo | undefined> {
  let info: ServeInfo;
  try {
    info = JSON.parse(await readFile(serveFile(dir), 'utf8')) as ServeInfo;
  } catch (err) {
    if (errCode(err) === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw new DaemonError(`cannot read ${serveFile(dir)}: ${errText(err)}`);
  }
  return isThatDaemon(info) ? info : undefined;
}

export const noDaemon = (dir: string): DaemonError =>
  new DaemonError(`no annexd daemon is running on ${dir} (start one with "annexd serve")`);

/** One API call to the running daemon; its JSON answer. */
export async function askDaemon<T>(dir: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const info = await runningDaemon(dir);
  if (!info) throw noDaemon(dir);
  let res: Response;
  try {
    res = await fetch(new URL(path, info.url), {
      method,
      headers: { authorization: `Bearer ${info.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new DaemonError(`the annexd daemon (pid ${info.pid}) does not answer at ${info.url}: ${errText((err as Error).cause ?? err)}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DaemonError(`the annexd daemon answered ${res.status} with something that is not JSON`);
  }
  if (!res.ok) throw new DaemonError((json as { error?: string }).error ?? `the annexd daemon answered ${res.status}`);
  return json as T;
}

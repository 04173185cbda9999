/**
 * Finding and asking a running daemon: serve.json in the state directory
 * (url, token, pid; 0600) says where it listens, and the pid whether it lives.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errCode, errText } from '../util/file-lock.js';
import { DaemonError } from './errors.js';

export interface ServeInfo {
  url: string;
  token: string;
  pid: number;
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

/** The running daemon's address, or undefined when none runs on this state directory. */
export async function runningDaemon(dir: string): Promise<ServeInfo | undefined> {
  let info: ServeInfo;
  try {
    info = JSON.parse(await readFile(serveFile(dir), 'utf8')) as ServeInfo;
  } catch (err) {
    if (errCode(err) === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw new DaemonError(`cannot read ${serveFile(dir)}: ${errText(err)}`);
  }
  if (!Number.isSafeInteger(info.pid) || info.pid <= 0 || !isAlive(info.pid)) return undefined;
  return info;
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

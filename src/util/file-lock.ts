/**
 * Files shared by several annexd processes: an exclusive lock between processes
 * (a lock file holding the holder's pid) and atomic replacement of a file.
 * Used by the credential store, the archive cache and OSF's request budget.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A lock that cannot be taken, or a lock file that cannot be handled: one line naming the file. */
export class FileLockError extends Error {
  override readonly name = 'FileLockError';
}

export interface LockOptions {
  /** How long to wait for the holder to finish; default 10 s. */
  timeoutMs?: number;
}

/**
 * A lock file without a pid is normally one whose creator is between open and
 * write; past this age its creator died in that gap.
 */
const EMPTY_LOCK_STALE_MS = 2_000;

/** Runs `fn` while holding the lock file `lockPath`, waiting for other holders (in any process). */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  await acquire(lockPath, opts.timeoutMs ?? 10_000);
  try {
    return await fn();
  } finally {
    // A failed unlink must not hide fn's result or error; once this process
    // exits, the next taker finds the pid dead and takes the lock over.
    await unlink(lockPath).catch(() => undefined);
  }
}

async function acquire(lockPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (await tryCreate(lockPath)) return;
    const holder = await readHolder(lockPath);
    if (holder.kind === 'gone') continue; // released between our two looks
    if (isStale(holder) && (await breakStale(lockPath))) continue;
    const left = deadline - Date.now();
    if (left <= 0) throw timeoutError(lockPath, holder, timeoutMs);
    // Randomized, so waiters that collided once do not collide again in step.
    const base = Math.min(10 * 2 ** Math.min(attempt, 4), 100);
    await sleep(Math.min(left, Math.round(base * (0.5 + Math.random()))));
  }
}

/** true when the lock is now ours. */
async function tryCreate(lockPath: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(lockPath, 'wx', 0o600);
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw new FileLockError(`cannot create lock file ${lockPath}: ${errText(err)}`);
  }
  try {
    await fh.writeFile(`${process.pid}\n`);
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(lockPath).catch(() => undefined);
    throw new FileLockError(`cannot write lock file ${lockPath}: ${errText(err)}`);
  }
  return true;
}

type Holder =
  | { kind: 'gone' }
  | { kind: 'pid'; pid: number }
  /** Empty or garbled: `ageMs` tells a creator mid-write from a dead one. */
  | { kind: 'unknown'; ageMs: number };

async function readHolder(path: string): Promise<Holder> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const m = /^(\d+)\s*$/.exec(text);
    const pid = m ? Number(m[1]) : 0;
    // pid 0 or negative would address process groups in process.kill.
    if (Number.isSafeInteger(pid) && pid > 0) return { kind: 'pid', pid };
    return { kind: 'unknown', ageMs: Date.now() - st.mtimeMs };
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { kind: 'gone' };
    throw new FileLockError(`cannot read lock file ${path}: ${errText(err)}`);
  }
}

function isStale(holder: Holder): boolean {
  if (holder.kind === 'pid') return !isAlive(holder.pid);
  return holder.kind === 'unknown' && holder.ageMs > EMPTY_LOCK_STALE_MS;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, but owned by another user.
    return errCode(err) !== 'ESRCH';
  }
}

/**
 * Removes a stale lock. Two waiters that both saw it stale must not both remove
 * it: the second would remove the lock the first has just taken. So removal
 * happens under a second lock file, after checking again that the lock is still
 * stale. That guard is held only for a read and an unlink; if its own holder
 * died (pid dead), it is removed directly, which can only go wrong after two
 * crashes at the same moment. true when the lock was removed.
 */
async function breakStale(lockPath: string): Promise<boolean> {
  const guard = `${lockPath}.break`;
  if (!(await tryCreate(guard))) {
    const g = await readHolder(guard);
    if (isStale(g)) await unlink(guard).catch(() => undefined);
    return false;
  }
  try {
    if (!isStale(await readHolder(lockPath))) return false;
    await unlink(lockPath);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return true;
    throw new FileLockError(`cannot remove stale lock file ${lockPath}: ${errText(err)}`);
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

function timeoutError(lockPath: string, holder: Holder, timeoutMs: number): FileLockError {
  const waited = `waited ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`;
  if (holder.kind === 'pid') {
    const self = holder.pid === process.pid ? ' (this process)' : '';
    return new FileLockError(
      `${lockPath} is locked by pid ${holder.pid}${self} (${waited}); if that is not an annexd process, remove ${lockPath}`,
    );
  }
  return new FileLockError(`${lockPath} is locked by an unknown process (no pid in it; ${waited}); remove ${lockPath} if no annexd is running`);
}

/**
 * Replaces `path` with `data` so that readers see the old or the new content,
 * never a mix: a temp file in the same directory (same file system, so rename
 * is atomic), flushed to disk before the rename.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  let done = false;
  try {
    // open's mode is narrowed by the umask; the file gets exactly `mode`.
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    done = true;
  } finally {
    if (!done) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
  await syncDir(dir);
}

/** Makes the rename itself durable; not every platform can fsync a directory. */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Best effort: the data is already on disk; at worst a crash keeps the old file.
  }
}

export function errCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

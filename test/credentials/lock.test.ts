/** The lock file between processes, and atomic file replacement: real files, real child processes. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { FileLockError, withFileLock, writeFileAtomic } from '../../src/util/file-lock.js';
import { deadPid, distModule, modeOf, removeTempDirs, runNode, script, tempDir } from './support.js';

afterEach(removeTempDirs);

const HOLDER = `
const [mod, lockPath, holdMs] = process.argv.slice(2);
const { withFileLock } = await import(mod);
await withFileLock(lockPath, async () => {
  console.log('locked');
  await new Promise((r) => setTimeout(r, Number(holdMs)));
});
`;

const COUNTER = `
import { readFile } from 'node:fs/promises';
const [mod, lockPath, counter, times, startAt] = process.argv.slice(2);
const { withFileLock, writeFileAtomic } = await import(mod);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
for (let i = 0; i < Number(times); i++) {
  await withFileLock(lockPath, async () => {
    const n = Number(await readFile(counter, 'utf8'));
    await new Promise((r) => setImmediate(r)); // widen the read-modify-write window
    await writeFileAtomic(counter, String(n + 1));
  });
}
`;

describe('withFileLock', () => {
  it('serializes holders in one process, and writes the pid into the lock', async () => {
    const lock = join(await tempDir(), 'x.lock');
    const order: string[] = [];
    await Promise.all([
      withFileLock(lock, async () => {
        order.push('a+');
        expect((await readFile(lock, 'utf8')).trim()).toBe(String(process.pid));
        await sleep(150);
        order.push('a-');
      }),
      sleep(20).then(() =>
        withFileLock(lock, async () => {
          order.push('b+');
          order.push('b-');
        }),
      ),
    ]);
    expect(order).toEqual(['a+', 'a-', 'b+', 'b-']);
    expect(existsSync(lock)).toBe(false);
  });

  it('waits for a holder in another process to release', async () => {
    const dir = await tempDir();
    const lock = join(dir, 'x.lock');
    const holder = await script(dir, 'holder.mjs', HOLDER);
    let locked!: () => void;
    const lockedSeen = new Promise<void>((r) => (locked = r));
    const child = runNode([holder, distModule('util/file-lock'), lock, '500'], {
      onStdout: (out) => out.includes('locked') && locked(),
    });
    await lockedSeen;
    const t0 = Date.now();
    const waited = await withFileLock(lock, async () => {
      expect((await readFile(lock, 'utf8')).trim()).toBe(String(process.pid));
      return Date.now() - t0;
    });
    expect(waited).toBeGreaterThanOrEqual(300);
    const run = await child;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('keeps three processes from losing increments of a shared counter', async () => {
    const dir = await tempDir();
    const lock = join(dir, 'counter.lock');
    const counter = join(dir, 'counter');
    await writeFile(counter, '0');
    const worker = await script(dir, 'counter.mjs', COUNTER);
    const startAt = String(Date.now() + 500);
    const runs = await Promise.all([1, 2, 3].map(() => runNode([worker, distModule('util/file-lock'), lock, counter, '30', startAt])));
    for (const run of runs) expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await readFile(counter, 'utf8')).toBe('90');
    expect((await readdir(dir)).sort()).toEqual(['counter', 'counter.mjs']);
  });

  it('takes over a lock whose holder has exited', async () => {
    const lock = join(await tempDir(), 'x.lock');
    await writeFile(lock, `${await deadPid()}\n`);
    const t0 = Date.now();
    const pidInside = await withFileLock(lock, async () => (await readFile(lock, 'utf8')).trim(), { timeoutMs: 5000 });
    expect(pidInside).toBe(String(process.pid));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(existsSync(lock)).toBe(false);
  });

  it('lets only one of several waiters take over a stale lock at a time', async () => {
    const dir = await tempDir();
    const lock = join(dir, 'x.lock');
    await writeFile(lock, `${await deadPid()}\n`);
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withFileLock(lock, async () => {
          most = Math.max(most, ++inside);
          await sleep(10);
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over a lock left empty long ago, but waits on one being written', async () => {
    const lock = join(await tempDir(), 'x.lock');
    await writeFile(lock, '');
    // Fresh and empty: its creator may be about to write its pid.
    await expect(withFileLock(lock, async () => 'ran', { timeoutMs: 200 })).rejects.toThrow(
      `${lock} is locked by an unknown process`,
    );
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    expect(await withFileLock(lock, async () => 'ran', { timeoutMs: 2000 })).toBe('ran');
  });

  it('times out naming the lock file and the pid of a live holder, and leaves its lock alone', async () => {
    const lock = join(await tempDir(), 'x.lock');
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const pid = sleeper.pid;
      if (pid === undefined) throw new Error('could not start node');
      await writeFile(lock, `${pid}\n`);
      let ran = false;
      const t0 = Date.now();
      const err = await withFileLock(
        lock,
        async () => {
          ran = true;
        },
        { timeoutMs: 300 },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileLockError);
      expect((err as Error).message).toBe(
        `${lock} is locked by pid ${pid} (waited 300 ms); if that is not an annexd process, remove ${lock}`,
      );
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(ran).toBe(false);
      expect(await readFile(lock, 'utf8')).toBe(`${pid}\n`);
    } finally {
      sleeper.kill();
    }
  });

  it('releases the lock when the work throws', async () => {
    const lock = join(await tempDir(), 'x.lock');
    await expect(withFileLock(lock, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(existsSync(lock)).toBe(false);
    expect(await withFileLock(lock, async () => 'again', { timeoutMs: 100 })).toBe('again');
  });

  it('reports a lock file that cannot be created', async () => {
    const lock = join(await tempDir(), 'missing-dir', 'x.lock');
    await expect(withFileLock(lock, async () => 'ran')).rejects.toThrow(`cannot create lock file ${lock}`);
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file with owner-only permissions and leaves no temp file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f.json');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await modeOf(path)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['f.json']);
  });

  it('creates a file with the mode asked for', async () => {
    const dir = await tempDir();
    const path = join(dir, 'g');
    await writeFileAtomic(path, 'data', 0o640);
    expect(await modeOf(path)).toBe(0o640);
  });
});

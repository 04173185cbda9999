/**
 * `annexd serve`: the scheduler and the server together, one per state
 * directory (serve.lock holds the pid; a dead holder's lock is taken over),
 * serve.json (0600) telling clients the URL and the token.
 */
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock, writeFileAtomic } from '../util/file-lock.js';
import { bootId, dropStaleServeLock, runningDaemon, serveFile, startTicks } from './client.js';
import { DaemonError } from './errors.js';
import { Scheduler, type DaemonEvent } from './scheduler.js';
import { startServer } from './server.js';
import { storageProblem, SyncState } from './state.js';

export interface DaemonOptions {
  stateDir: string;
  port: number;
  maxParallel?: number;
  /** Told once the daemon listens. */
  onReady?: (url: string) => void;
  onEvent?: (e: DaemonEvent) => void;
  /** Resolves when the daemon should stop (a signal). */
  stopped: Promise<void>;
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const state = new SyncState(options.stateDir);
  await state.ensureDir();
  const other = await runningDaemon(options.stateDir);
  if (other && other.pid !== process.pid) {
    throw new DaemonError(`an annexd daemon is already running on ${options.stateDir} (pid ${other.pid}, ${other.url}); stop it first`);
  }
  const lock = join(options.stateDir, 'serve.lock');
  await dropStaleServeLock(options.stateDir);
  try {
    await withFileLock(lock, () => serve(state, options), { timeoutMs: 0 });
  } catch (err) {
    const m = /is locked by pid (\d+)/.exec((err as Error).message);
    if (m) throw new DaemonError(`an annexd daemon is already running on ${options.stateDir} (pid ${m[1]}); stop it first`);
    if (err instanceof DaemonError) throw err;
    const why = storageProblem(err, options.stateDir);
    if (why) throw new DaemonError(`cannot start: ${why}`);
    throw err;
  }
}

async function serve(state: SyncState, options: DaemonOptions): Promise<void> {
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const scheduler = new Scheduler({
    state,
    ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}),
    onEvent: (e) => {
      server?.broadcast(e);
      options.onEvent?.(e);
    },
  });
  const token = randomBytes(32).toString('base64url');
  server = await startServer(scheduler, token, options.port);
  const info = serveFile(options.stateDir);
  try {
    await writeFileAtomic(info, `${JSON.stringify({ url: server.url, token, pid: process.pid, bootId: bootId(), startTicks: startTicks(process.pid) }, null, 2)}\n`, 0o600);
    await scheduler.start();
    options.onReady?.(server.url);
    await options.stopped;
  } finally {
    await scheduler.stop();
    await server.close();
    await unlink(info).catch(() => undefined);
  }
}

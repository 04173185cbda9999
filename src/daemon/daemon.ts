/**
 * `annexd serve`: the scheduler and the server together, one per state
 * directory (serve.lock holds the pid; a dead holder's lock is taken over),
 * serve.json (0600) telling clients the URL and the token.
 */
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock, writeFileAtomic } from '../util/file-lock.js';
import { NO_REPORT_ENV, progressSocket } from '../util/state-dir.js';
import { bootId, dropStaleServeLock, runningDaemon, serveFile, startTicks } from './client.js';
import { DaemonError } from './errors.js';
import { OutsideTransfers } from './outside.js';
import { Scheduler, type DaemonEvent } from './scheduler.js';
import { startServer } from './server.js';
import { storageProblem, SyncState } from './state.js';

export interface DaemonOptions {
  stateDir: string;
  port: number;
  maxParallel?: number;
  /** Told once the daemon listens. */
  onReady?: (url: string) => void;
  /** A problem the daemon runs on with (e.g. no socket for transfers outside it). */
  onWarning?: (message: string) => void;
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
  const onEvent = (e: DaemonEvent): void => {
    server?.broadcast(e);
    options.onEvent?.(e);
  };
  // The daemon's own pushes are followed through git-annex's --json-progress (file names,
  // per-sibling totals): the remote processes of those pushes must not report them a second time.
  process.env[NO_REPORT_ENV] = '1';
  const scheduler = new Scheduler({ state, ...(options.maxParallel ? { maxParallel: options.maxParallel } : {}), onEvent });
  const outside = new OutsideTransfers((transfer) => onEvent({ type: 'transfer', transfer }));
  const token = randomBytes(32).toString('base64url');
  server = await startServer(scheduler, token, options.port, outside);
  const info = serveFile(options.stateDir);
  try {
    const problem = await outside.listen(progressSocket(options.stateDir));
    if (problem) options.onWarning?.(problem);
    await writeFileAtomic(info, `${JSON.stringify({ url: server.url, token, pid: process.pid, bootId: bootId(), startTicks: startTicks(process.pid) }, null, 2)}\n`, 0o600);
    await scheduler.start();
    options.onReady?.(server.url);
    await options.stopped;
  } finally {
    await scheduler.stop();
    await outside.close();
    await server.close();
    await unlink(info).catch(() => undefined);
  }
}

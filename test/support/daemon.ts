/**
 * A real `annexd serve` process on a state directory, for the daemon tests:
 * started with --port 0, ready once serve.json names it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, type ExecResult } from '../../src/util/exec.js';
import type { DaemonStatus } from '../../src/daemon/scheduler.js';
import { BIN_DIR } from './tools.js';
import { afterAll, beforeAll } from 'vitest';
import { createSandbox, type AnnexRepo, type Sandbox } from './annex.js';
import { annexd, bareSibling, dataset, directoryRemote } from './push.js';

export interface ServeInfo {
  url: string;
  token: string;
  pid: number;
}

export interface Daemon {
  proc: ChildProcess;
  info: ServeInfo;
  stderr(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM and wait. */
  stop(): Promise<number | string>;
}

export interface SyncEntryOnDisk {
  path: string;
  sibling: string;
  lastResult?: string;
  lastError?: string;
  lastStart?: string;
  lastEnd?: string;
  failures: number;
  nextDue?: string;
  paused: boolean;
}

export async function readSyncs(stateDir: string): Promise<SyncEntryOnDisk[]> {
  try {
    return (JSON.parse(await readFile(join(stateDir, 'syncs.json'), 'utf8')) as { syncs: SyncEntryOnDisk[] }).syncs;
  } catch {
    return [];
  }
}

/** `annexd ARGS` run in `cwd` (for a dataset that may be gone meanwhile). */
export function annexdAt(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<ExecResult> {
  return exec(join(BIN_DIR, 'annexd'), args, { cwd, env: { ...process.env, ...env }, input: '' });
}

/** The running daemon's `annexd status --json`. */
export async function daemonStatus(env: NodeJS.ProcessEnv): Promise<DaemonStatus> {
  const r = await annexdAt(env.ANNEXD_STATE_DIR ?? '/', ['status', '--json'], env);
  if (r.code !== 0) throw new Error(`annexd status --json failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as DaemonStatus;
}

/** Polls `check` (async) every 50 ms until it is true; fails naming `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startDaemon(env: NodeJS.ProcessEnv, args: string[] = []): Promise<Daemon> {
  const stateDir = env.ANNEXD_STATE_DIR;
  if (!stateDir) throw new Error('startDaemon needs ANNEXD_STATE_DIR in env');
  const proc = spawn(join(BIN_DIR, 'annexd'), ['serve', '--port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  proc.stdout!.resume();
  const exited = new Promise<number | string>((r) => proc.on('exit', (code, sig) => r(code ?? sig ?? -1)));
  let done = false;
  void exited.then(() => (done = true));
  let info: ServeInfo | undefined;
  await eventually('annexd serve to write serve.json', async () => {
    if (done) throw new Error(`annexd serve exited: ${err}`);
    try {
      const i = JSON.parse(await readFile(join(stateDir, 'serve.json'), 'utf8')) as ServeInfo;
      if (i.pid === proc.pid && /listening on/.test(err)) info = i;
    } catch {
      // not yet
    }
    return info !== undefined;
  });
  return {
    proc,
    info: info!,
    stderr: () => err,
    exited,
    async stop() {
      if (!done) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** A test file's sandbox, and daemons started in it that are stopped (SIGTERM) at its end. */
export function useDaemonSandbox(): { readonly sandbox: Sandbox; start(env: NodeJS.ProcessEnv, args?: string[]): Promise<Daemon> } {
  let sandbox: Sandbox | undefined;
  const daemons: Daemon[] = [];
  beforeAll(async () => {
    sandbox = await createSandbox();
  });
  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await sandbox?.cleanup();
  });
  return {
    get sandbox(): Sandbox {
      if (!sandbox) throw new Error('useDaemonSandbox: the sandbox is made in beforeAll');
      return sandbox;
    },
    async start(env, args = []) {
      const d = await startDaemon(env, args);
      daemons.push(d);
      return d;
    },
  };
}

/**
 * A dataset with annexed files, an origin (bare git-annex repository) that
 * publish-depends on a directory remote "store"; `hook` becomes origin's
 * pre-receive hook (to hold or fail a sync at its git push).
 */
export async function datasetWithOrigin(sandbox: Sandbox, name: string, files: Record<string, string>, hook?: string): Promise<{ ds: AnnexRepo; origin: string }> {
  const ds = await dataset(sandbox, name, files);
  await directoryRemote(ds, sandbox, 'store');
  const origin = await bareSibling(sandbox, `${name}-origin`);
  if (hook) {
    await writeFile(join(origin, 'hooks', 'pre-receive'), `#!/bin/sh\n${hook}\n`);
    await chmod(join(origin, 'hooks', 'pre-receive'), 0o755);
  }
  const add = await annexd(ds, ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 'store']);
  if (add.code !== 0) throw new Error(`annexd siblings add failed: ${add.stderr}`);
  return { ds, origin };
}

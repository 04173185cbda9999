/** Temp dirs and real child processes for the credential store tests. */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../support/tools.js';

const dirs: string[] = [];

/** Removes the directories tempDir made; for afterEach. */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A fresh directory, removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'annexd-cred-'));
  dirs.push(dir);
  return dir;
}

/** Permission bits of a file or directory, e.g. 0o600. */
export async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/**
 * The file: URL of a compiled credentials module, for child processes (which
 * run plain node). Fails when dist/ is missing or older than the source.
 */
export function distModule(name: string): string {
  // A credentials module by its name, or another by its path under src/ ("util/file-lock").
  const path = name.includes('/') ? name : `credentials/${name}`;
  const js = join(REPO_ROOT, 'dist', `${path}.js`);
  if (!existsSync(js)) throw new Error(`dist/${path}.js is missing: run "npm run build" first`);
  for (const src of [path, 'util/file-lock']) {
    const ts = join(REPO_ROOT, 'src', `${src}.ts`);
    const built = join(REPO_ROOT, 'dist', `${src}.js`);
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(ts).mtimeMs) {
      throw new Error(`dist/${src}.js is older than src/${src}.ts: run "npm run build" first`);
    }
  }
  return pathToFileURL(js).href;
}

/** Writes an .mjs script into `dir` and returns its path. */
export async function script(dir: string, name: string, source: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, source);
  return path;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node on `args`; `onStdout` sees output as it arrives. */
export function runNode(args: string[], opts: { env?: NodeJS.ProcessEnv; onStdout?: (text: string) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
      opts.onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The pid of a process that has exited (and so is free, unless the system reuses it). */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid;
  await new Promise((resolve) => child.on('close', resolve));
  if (pid === undefined) throw new Error('could not start node');
  return pid;
}

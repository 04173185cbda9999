/**
 * The real git and git-annex, run for the orchestration layer: never a
 * reimplementation. Every call runs in a dataset directory, can be cancelled
 * (AbortSignal) and either returns its output or fails with one line.
 */
import { spawn } from 'node:child_process';
import { exec, type ExecResult } from '../util/exec.js';
import { OrchestrationError } from './errors.js';

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onStdout?: (chunk: string) => void;
}

/** `git ARGS` in `cwd`; never throws on a non-zero exit. */
export function git(cwd: string, args: string[], options: RunOptions = {}): Promise<ExecResult> {
  return exec('git', args, {
    cwd,
    env: { ...process.env, ...options.env },
    input: options.input,
    signal: options.signal,
    onStdout: options.onStdout,
  });
}

/** The first line git wrote that says what went wrong. */
export function firstErrorLine(r: ExecResult): string {
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^(fatal|error|git-annex):/.test(l)) ?? lines[0] ?? `exited with code ${r.code}`;
}

/** `git ARGS`, failing with git's own error line. */
export async function gitOk(cwd: string, args: string[], options: RunOptions = {}): Promise<ExecResult> {
  const r = await git(cwd, args, options);
  if (r.code !== 0) throw new OrchestrationError(`git ${args.join(' ')}: ${firstErrorLine(r)}`);
  return r;
}

/**
 * A snapshot of the effective git configuration (every scope, as DataLad
 * reads it). Section and variable names are case-insensitive in git, the
 * subsection (a remote's name) is not: keys are normalised that way.
 */
export class GitConfig {
  private constructor(private readonly values: Map<string, string[]>) {}

  static async read(cwd: string, signal?: AbortSignal): Promise<GitConfig> {
    const r = await gitOk(cwd, ['config', '-z', '--list'], { signal });
    const values = new Map<string, string[]>();
    for (const entry of r.stdout.split('\0')) {
      if (!entry) continue;
      const nl = entry.indexOf('\n');
      const key = normaliseKey(nl === -1 ? entry : entry.slice(0, nl));
      // A key without "\n" has no value at all (`[x] flag`), which git reads as true.
      const value = nl === -1 ? 'true' : entry.slice(nl + 1);
      const list = values.get(key);
      if (list) list.push(value);
      else values.set(key, [value]);
    }
    return new GitConfig(values);
  }

  /** The last value, as `git config --get` answers. */
  get(key: string): string | undefined {
    const all = this.values.get(normaliseKey(key));
    return all?.[all.length - 1];
  }

  getAll(key: string): string[] {
    return [...(this.values.get(normaliseKey(key)) ?? [])];
  }

  bool(key: string): boolean {
    const v = this.get(key)?.toLowerCase();
    return v === 'true' || v === 'yes' || v === 'on' || v === '1';
  }

  /** Every `remote.NAME.*` key of one remote, variable names lower case. */
  remoteSection(name: string): Map<string, string[]> {
    const prefix = `remote.${name}.`;
    const section = new Map<string, string[]>();
    for (const [k, v] of this.values) {
      if (k.startsWith(prefix) && !k.slice(prefix.length).includes('.')) section.set(k.slice(prefix.length), [...v]);
    }
    return section;
  }

  /** Names of every remote with any configuration, in the order git lists them (special remotes too). */
  remoteNames(): string[] {
    const names: string[] = [];
    for (const k of this.values.keys()) {
      if (!k.startsWith('remote.')) continue;
      const last = k.lastIndexOf('.');
      if (last <= 'remote.'.length) continue;
      const name = k.slice('remote.'.length, last);
      if (!names.includes(name)) names.push(name);
    }
    return names;
  }
}

function normaliseKey(key: string): string {
  const first = key.indexOf('.');
  const last = key.lastIndexOf('.');
  if (first === -1) return key.toLowerCase();
  if (first === last) return key.toLowerCase();
  return `${key.slice(0, first).toLowerCase()}${key.slice(first, last + 1)}${key.slice(last + 1).toLowerCase()}`;
}

export interface LineRunResult {
  code: number;
  stderr: string;
}

/**
 * `git ARGS` with `input` on stdin, each stdout line handed to `onLine` as
 * it arrives (git-annex's --json-progress stream); stderr kept for the error.
 */
export function gitLines(
  cwd: string,
  args: string[],
  options: { input?: string; signal?: AbortSignal; onLine(line: string): void },
): Promise<LineRunResult> {
  const proc = gitBatch(cwd, args, { ...(options.signal ? { signal: options.signal } : {}), onLine: (l) => l && options.onLine(l) });
  proc.write(options.input ?? '');
  proc.end();
  return proc.done;
}

export interface BatchProcess {
  /** Sends one input record (NUL-terminated with -z, newline otherwise, as given). */
  write(record: string): void;
  /** Closes stdin: git-annex finishes what it has and exits. */
  end(): void;
  readonly done: Promise<LineRunResult>;
}

/** A long-running `git ARGS` fed record by record (git-annex --batch), each stdout line to `onLine`. */
export function gitBatch(cwd: string, args: string[], options: { signal?: AbortSignal; onLine(line: string): void }): BatchProcess {
  const child = spawn('git', args, { cwd, env: process.env, stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
  let stderr = '';
  let rest = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop() ?? '';
    // Blank lines count: git-annex answers every batch input, with an empty line when it did nothing.
    for (const l of lines) options.onLine(l);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  child.stdin.on('error', () => undefined);
  const done = new Promise<LineRunResult>((resolve, reject) => {
    child.on('error', (err) => reject(err.name === 'AbortError' ? (options.signal?.reason ?? err) : err));
    child.on('close', (code, signal) => {
      if (rest) options.onLine(rest);
      resolve({ code: code ?? (signal ? 128 : 1), stderr });
    });
  });
  return {
    write: (record) => void child.stdin.write(record),
    end: () => void child.stdin.end(),
    done,
  };
}

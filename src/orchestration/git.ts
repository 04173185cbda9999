/**
 * The real git and git-annex, run for the orchestration layer: never a
 * reimplementation. Every call runs in a dataset directory, can be cancelled
 * (AbortSignal) and either returns its output or fails with one line.
 */
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

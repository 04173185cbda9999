/** Runs a program without blocking the event loop (an embedded server may be serving it). */
import { spawn, type StdioOptions } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'inherit' shows the program's output (and progress) live; default captures it. */
  stdio?: 'inherit' | 'pipe';
  input?: string;
  /** Receives stdout as it comes (stderr is shown live); for reading progress streams. */
  onStdout?: (chunk: string) => void;
  /** Ends the program (SIGTERM) when aborted; the promise then rejects with the abort reason. */
  signal?: AbortSignal;
}

export function exec(command: string, args: string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = options.onStdout
      ? ['ignore', 'pipe', 'inherit']
      : options.stdio === 'inherit'
        ? ['ignore', 'inherit', 'inherit']
        : ['pipe', 'pipe', 'pipe'];
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio, signal: options.signal });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (options.onStdout) options.onStdout(d);
      else stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') return reject(options.signal?.reason ?? err);
      reject(err.code === 'ENOENT' ? new Error(`${command} is not installed (or not on PATH)`) : err);
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    if (child.stdin) {
      // A program that exits without reading its input must not crash us with EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    }
  });
}

/**
 * The user's git credential helpers (`git credential fill`), asked without
 * ever prompting: a special remote must not block on a terminal, and a helper
 * that has nothing simply yields nothing.
 */
import { spawn } from 'node:child_process';

export interface GitCredential {
  username: string;
  password: string;
}

/** Asks `git credential fill` for an http(s) URL; undefined when no helper knows it. */
export function gitCredentialFill(url: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<GitCredential | undefined> {
  const u = new URL(url);
  const input = [`protocol=${u.protocol.replace(/:$/, '')}`, `host=${u.host}`];
  if (u.pathname && u.pathname !== '/') input.push(`path=${u.pathname.replace(/^\//, '')}`);
  const env: NodeJS.ProcessEnv = {
    ...(options.env ?? process.env),
    // No terminal prompt, no GUI askpass: only configured helpers may answer.
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'false',
    SSH_ASKPASS: 'false',
  };
  return new Promise((resolve) => {
    const child = spawn('git', ['-c', 'credential.interactive=never', 'credential', 'fill'], {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined);
      const fields = Object.fromEntries(
        out
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      resolve(fields.username && fields.password ? { username: fields.username, password: fields.password } : undefined);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input.join('\n') + '\n\n');
  });
}

/**
 * Starting real servers for tests on 127.0.0.1: free ports, waiting until a
 * server answers, and lighttpd run from a config the test writes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { exec } from '../../src/util/exec.js';
import { requireTool } from './tools.js';

/** A port nobody listens on right now (lighttpd and apache cannot be told to bind port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A port on 127.0.0.1 with nothing listening: a connection to it is refused. */
export const closedPort = freePort;

/** Tries `start` on a free port, and once more on another if that port was taken meanwhile. */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  try {
    return await start(await freePort());
  } catch {
    return start(await freePort());
  }
}

/** Waits until the server answers HTTP (any status). */
export async function waitForHttp(url: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000), redirect: 'manual' });
      return;
    } catch (err) {
      if (Date.now() > until) throw new Error(`the test server at ${url} did not come up: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function pidExited(pid: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > until) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

/**
 * Runs lighttpd on a free port with the config `body(port)` returns (which
 * must set server.pid-file to `pidFile`), and waits until it answers `probePath`.
 */
export async function runLighttpd(
  dir: string,
  pidFile: string,
  body: (port: number) => string,
  probePath = '/',
): Promise<RunningServer> {
  requireTool('lighttpd', 'apt-get install -y lighttpd');
  return onFreePort(async (port) => {
    const conf = join(dir, `lighttpd-${port}.conf`);
    await writeFile(conf, body(port));
    const r = await exec('lighttpd', ['-f', conf]);
    if (r.code !== 0) throw new Error(`lighttpd did not start: ${r.stdout}${r.stderr}`);
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    const stop = async (): Promise<void> => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      await pidExited(pid);
    };
    await waitForHttp(`http://127.0.0.1:${port}${probePath}`);
    return { port, stop };
  });
}

/**
 * A plain TCP forwarder listening on [::1] in front of a server on 127.0.0.1:
 * the bytes (Host header included) pass unchanged, so a remote configured with
 * http://[::1]:PORT talks to the real server over IPv6.
 */
export async function ipv6Front(targetPort: number): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const { connect } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const srv = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '::1', resolve);
  });
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    url: `http://[::1]:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

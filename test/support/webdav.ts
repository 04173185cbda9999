/**
 * Real WebDAV servers for integration tests, on 127.0.0.1 with basic auth
 * (user u, random password): lighttpd + mod_webdav, Apache + mod_dav_fs and
 * `rclone serve webdav` (Go's x/net/webdav over a local directory), each with
 * its own config in the test's temp dir and a free port.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startApacheDav } from '../../src/demo/apache-dav.js';
import { exec } from '../../src/util/exec.js';
import { initExternalRemote, useSandboxWith, type Sandbox } from './annex.js';
import { onFreePort, runLighttpd, waitForHttp } from './servers.js';
import { requireTool } from './tools.js';

export type DavKind = 'lighttpd' | 'apache' | 'rclone';
export const DAV_KINDS: DavKind[] = ['lighttpd', 'apache', 'rclone'];

export interface TestDav {
  kind: DavKind;
  /** URL of the served area, without a trailing slash, e.g. http://127.0.0.1:PORT/dav */
  url: string;
  user: string;
  password: string;
  /** WEBDAV_* variables for initremote. */
  credsEnv: NodeJS.ProcessEnv;
  /** The directory on disk the server serves at `url`. */
  root: string;
  /** A fresh collection URL per call, so tests sharing a server do not collide. */
  collection(label: string): string;
  stop(): Promise<void>;
}

let counter = 0;

function build(kind: DavKind, port: number, password: string, root: string, stop: () => Promise<void>): TestDav {
  const url = `http://127.0.0.1:${port}/dav`;
  return {
    kind,
    url,
    user: 'u',
    password,
    credsEnv: { WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: password },
    root,
    collection: (label) => `${url}/${label}-${process.pid}-${++counter}`,
    stop,
  };
}

async function startLighttpd(dir: string, password: string): Promise<TestDav> {
  requireTool('lighttpd', 'apt-get install -y lighttpd lighttpd-mod-webdav');
  if (!existsSync('/usr/lib/lighttpd/mod_webdav.so')) {
    throw new Error('this test needs lighttpd\'s WebDAV module: run "apt-get install -y lighttpd-mod-webdav" (scripts/setup.sh does it)');
  }
  const base = join(dir, 'lighttpd');
  await mkdir(join(base, 'dav'), { recursive: true });
  await mkdir(join(base, 'logs'), { recursive: true });
  await writeFile(join(base, 'users'), `u:${password}\n`, { mode: 0o600 });
  const pidFile = join(base, 'lighttpd.pid');
  const server = await runLighttpd(
    base,
    pidFile,
    (port) => `server.modules = ( "mod_alias", "mod_auth", "mod_authn_file", "mod_webdav" )
server.document-root = "${base}/dav"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${base}/logs/error.log"
server.pid-file = "${pidFile}"
server.max-request-size = 0
alias.url = ( "/dav/" => "${base}/dav/" )
auth.backend = "plain"
auth.backend.plain.userfile = "${base}/users"
$HTTP["url"] =~ "^/dav($|/)" {
  webdav.activate = "enable"
  webdav.is-readonly = "disable"
  webdav.sqlite-db-name = "${base}/webdav.db"
  auth.require = ( "" => ( "method" => "basic", "realm" => "dav", "require" => "valid-user" ) )
}
`,
    '/dav/',
  );
  return build('lighttpd', server.port, password, join(base, 'dav'), server.stop);
}

/** An htpasswd file for user u, the password given on stdin (never in a process argument). */
async function writeHtpasswd(file: string, password: string): Promise<void> {
  requireTool('htpasswd', 'apt-get install -y apache2-utils');
  const h = await exec('htpasswd', ['-ci', file, 'u'], { input: password + '\n' });
  if (h.code !== 0) throw new Error(`htpasswd failed: ${h.stderr}`);
  await chmod(file, 0o644);
}

async function startApache(dir: string, password: string): Promise<TestDav> {
  requireTool('apache2', 'apt-get install -y apache2');
  requireTool('htpasswd', 'apt-get install -y apache2-utils');
  await chmod(dir, 0o755);
  return onFreePort(async (port) => {
    const apache = await startApacheDav(join(dir, 'apache'), port, 'u', password);
    const dav = build('apache', port, password, apache.root, apache.stop);
    await waitForHttp(`${dav.url}/`);
    return dav;
  });
}

/**
 * `rclone serve webdav` on a port the kernel picks (read back from its log),
 * the password in an htpasswd file: --pass would put it in the process arguments.
 */
async function startRclone(dir: string, password: string): Promise<TestDav> {
  requireTool('rclone', 'apt-get install -y rclone');
  const base = join(dir, 'rclone');
  for (const d of ['dav', 'cache']) await mkdir(join(base, d), { recursive: true });
  const htpasswd = join(base, 'htpasswd');
  await writeHtpasswd(htpasswd, password);
  // --dir-cache-time 0s: tests look at and change the served tree on disk behind rclone's back.
  const child = spawn(
    'rclone',
    ['serve', 'webdav', join(base, 'dav'), '--addr', '127.0.0.1:0', '--baseurl', '/dav', '--htpasswd', htpasswd,
      '--dir-cache-time', '0s', '--cache-dir', join(base, 'cache'), '--config', join(base, 'rclone.conf')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (log.length < 100_000) log += d;
      const m = /WebDav Server started on http:\/\/127\.0\.0\.1:(\d+)\//.exec(log);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`rclone serve webdav exited early (code ${code}): ${log}`)));
  });
  const dav = build('rclone', port, password, join(base, 'dav'), async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });
  await waitForHttp(`${dav.url}/`);
  return dav;
}

const starters: Record<DavKind, (dir: string, password: string) => Promise<TestDav>> = {
  lighttpd: startLighttpd,
  apache: startApache,
  rclone: startRclone,
};

export function startTestDav(kind: DavKind, dir: string, password = randomBytes(12).toString('hex')): Promise<TestDav> {
  return starters[kind](dir, password);
}

/** `git annex initremote NAME type=external externaltype=annexd-webdav …` with the server's credentials. */
export async function initDavRemote(
  repo: { okEnv(env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<unknown> },
  dav: TestDav,
  name: string,
  params: string[] = [],
  url = dav.collection(name),
): Promise<string> {
  await initExternalRemote(repo, 'annexd-webdav', name, [`url=${url}`, ...params], dav.credsEnv);
  return url;
}

export interface DavSuite {
  readonly sandbox: Sandbox;
  readonly dav: TestDav;
}

/** Registers beforeAll/afterAll that give a describe block its own sandbox and server. */
export function useDavSuite(kind: DavKind): DavSuite {
  return useSandboxWith('dav', (dir) => startTestDav(kind, dir));
}

/**
 * The servers the benchmarks run on 127.0.0.1: the embedded S3 server
 * (dist/demo/s3-server-main.js, s3rver behind the SigV4 verifier),
 * lighttpd + mod_webdav and Apache + mod_dav_fs. Each is tracked by
 * lib.mjs, so it never outlives the run. Used by the benches under bench/.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import * as lib from './lib.mjs';

const { BenchError } = lib;
const SERVER_MAIN = path.join(lib.ROOT, 'dist', 'demo', 's3-server-main.js');
export const LIGHTTPD = existsSync('/usr/sbin/lighttpd') ? '/usr/sbin/lighttpd' : 'lighttpd';
export const MOD_WEBDAV = '/usr/lib/lighttpd/mod_webdav.so';
export const DAV_USER = 'bench';

/** Starts the embedded S3 server; resolves with { child, info } once it printed its JSON line. */
export function startS3Server(dataDir, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_MAIN, dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    lib.trackServer(child);
    let server;
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new BenchError('the S3 server did not report ready within 30 s')), 30_000);
    const fail = (e) => {
      clearTimeout(timer);
      reject(new BenchError(`${e.message}${err.trim() ? '\n' + err.trim().split('\n').slice(-10).join('\n') : ''}`));
    };
    child.stderr.on('data', (c) => (err += c));
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      if (!server) fail(new BenchError(`the S3 server exited (${signal ?? code}) before it was ready`));
    });
    child.stdout.on('data', (c) => {
      if (server) return;
      out += c;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        const info = JSON.parse(out.slice(0, nl));
        server = { child, info };
        resolve(server);
      } catch {
        reject(new BenchError(`unexpected first line from the S3 server: ${out.slice(0, nl)}`));
      }
    });
  });
}

/** A port nobody listens on right now (lighttpd cannot be told to bind port 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * lighttpd + mod_webdav in the foreground (-D, so it is our child and dies
 * with the run), serving `<dir>/www/dav` at http://127.0.0.1:PORT/dav with
 * basic auth: the WebDAV settings of test/support/webdav.ts, with request
 * bodies buffered in the scratch directory. Resolves once /dav/ answers 401.
 */
export async function startLighttpd(dir, password) {
  for (const d of ['www/dav', 'logs', 'upload']) mkdirSync(path.join(dir, d), { recursive: true });
  writeFileSync(path.join(dir, 'users'), `${DAV_USER}:${password}\n`, { mode: 0o600 });
  return foregroundDav('lighttpd', path.join(dir, 'logs', 'error.log'), async (port) => {
    const conf = path.join(dir, `lighttpd-${port}.conf`);
    writeFileSync(
      conf,
      `server.modules = ( "mod_auth", "mod_authn_file", "mod_webdav" )
server.document-root = "${dir}/www"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${dir}/logs/error.log"
server.upload-dirs = ( "${dir}/upload" )
server.max-request-size = 0
auth.backend = "plain"
auth.backend.plain.userfile = "${dir}/users"
$HTTP["url"] =~ "^/dav($|/)" {
  webdav.activate = "enable"
  webdav.is-readonly = "disable"
  webdav.sqlite-db-name = "${dir}/webdav.db"
  auth.require = ( "" => ( "method" => "basic", "realm" => "dav", "require" => "valid-user" ) )
}
`,
    );
    return { conf, child: spawn(LIGHTTPD, ['-D', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] }) };
  });
}

/**
 * Apache + mod_dav_fs (strong ETags, so WebDAV downloads come in parallel
 * ranges) in the foreground, with the config the tests use
 * (dist/demo/apache-dav.js), user DAV_USER; resolves once /dav/ answers 401.
 */
export async function startApache(dir, password) {
  const { writeApacheDavConfig } = await import('../dist/demo/apache-dav.js');
  // Its workers run as www-data and must pass through the (0700) scratch directory: execute, not list.
  mkdirSync(dir, { recursive: true });
  chmodSync(path.dirname(dir), 0o711);
  return foregroundDav('apache2', path.join(dir, 'logs', 'error.log'), async (port) => {
    const conf = await writeApacheDavConfig(dir, port, DAV_USER, password);
    return { conf, child: spawn('apache2', ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] }) };
  });
}

/**
 * Starts a WebDAV server as our child on a free port (`launch(port)`), and
 * waits until http://127.0.0.1:PORT/dav/ asks for credentials; once more on
 * another port when that one was taken meanwhile.
 */
async function foregroundDav(name, errorLogFile, launch) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const { conf, child } = await launch(port);
    lib.trackServer(child);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', () => {}); // seen below as an exit
    const url = `http://127.0.0.1:${port}/dav`;
    const until = Date.now() + 10_000;
    while (child.exitCode === null && child.signalCode === null && Date.now() < until) {
      const status = await fetch(`${url}/`, { signal: AbortSignal.timeout(1000) }).then(
        (res) => res.status,
        () => 0,
      );
      // 401: our server asking for our credentials; anything else is someone else on the port.
      if (status === 401 && child.exitCode === null) return { child, url };
      if (status) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Only this server: the others of the run (say, the S3 server) stay up. SIGTERM first:
    // apache's main process then stops its workers, which a SIGKILL would leave behind.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    if (attempt < 2) continue; // the port may have been taken meanwhile: once more on another
    let errorLog = '';
    try {
      errorLog = readFileSync(errorLogFile, 'utf8');
    } catch {}
    const tail = (stderr + errorLog).trim().split('\n').slice(-10).join('\n');
    throw new BenchError(`${name} did not come up on 127.0.0.1 (config ${conf})${tail ? '\n' + tail : ''}`);
  }
}

/**
 * Apache + mod_dav_fs on 127.0.0.1 with basic auth, from a config of its own
 * in a scratch directory: the WebDAV server with strong ETags that the tests
 * and the WAN bench both run (lighttpd names no version, so only here can a
 * WebDAV download come in parallel ranges). Not used by annexd itself.
 */
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { exec } from '../util/exec.js';

export interface ApacheDav {
  /** The served area, without a trailing slash: http://127.0.0.1:PORT/dav */
  url: string;
  /** The directory on disk served at `url`. */
  root: string;
  /** Stops apache and waits until its main process is gone. */
  stop(): Promise<void>;
}

const MODULES = [
  'mpm_event', 'authz_core', 'authn_core', 'authn_file', 'auth_basic', 'authz_user', 'alias', 'dav', 'dav_fs', 'dav_lock',
];

/**
 * Writes the config (returned) serving `base`/dav at /dav on `port` for
 * `user`, whose password goes to htpasswd on stdin (never in a process
 * argument). For a caller that runs `apache2 -f CONF -DFOREGROUND` itself.
 */
export async function writeApacheDavConfig(base: string, port: number, user: string, password: string): Promise<string> {
  for (const d of ['dav', 'lock', 'logs', 'run']) await mkdir(join(base, d), { recursive: true });
  // Started as root, apache serves as www-data: it must reach and own the served tree.
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim());
    for (const d of ['dav', 'lock']) await chown(join(base, d), uid, gid);
  }
  await chmod(base, 0o755);
  const htpasswd = join(base, 'htpasswd');
  const h = await exec('htpasswd', ['-ci', htpasswd, user], { input: password + '\n' }).catch((err: unknown) => {
    throw new Error(`${String(err)}: run "apt-get install -y apache2-utils"`);
  });
  if (h.code !== 0) throw new Error(`htpasswd failed: ${h.stderr}`);
  await chmod(htpasswd, 0o644);
  const conf = join(base, `httpd-${port}.conf`);
  await writeFile(
    conf,
    [
      'ServerRoot /etc/apache2',
      'ServerName localhost',
      `PidFile ${base}/run/httpd.pid`,
      `DefaultRuntimeDir ${base}/run`,
      `Listen 127.0.0.1:${port}`,
      ...(asRoot ? ['User www-data', 'Group www-data'] : []),
      ...MODULES.map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`),
      `ErrorLog ${base}/logs/error.log`,
      'LogLevel warn',
      `DAVLockDB ${base}/lock/davlock`,
      'LimitRequestBody 0',
      `Alias /dav ${base}/dav`,
      `<Directory ${base}/dav>`,
      '  Dav On',
      '  AuthType Basic',
      '  AuthName dav',
      `  AuthUserFile ${htpasswd}`,
      '  Require valid-user',
      '</Directory>',
      '',
    ].join('\n'),
  );
  return conf;
}

/**
 * Starts apache2 (it detaches) with writeApacheDavConfig's config. Throws with
 * what to install when apache2 or htpasswd is missing, and with apache's own
 * words when it does not start (say, the port was taken).
 */
export async function startApacheDav(base: string, port: number, user: string, password: string): Promise<ApacheDav> {
  const conf = await writeApacheDavConfig(base, port, user, password);
  const r = await exec('apache2', ['-f', conf, '-k', 'start']).catch((err: unknown) => {
    throw new Error(`${String(err)}: run "apt-get install -y apache2"`);
  });
  if (r.code !== 0) throw new Error(`apache2 did not start on 127.0.0.1:${port}: ${(r.stdout + r.stderr).trim()}`);
  return {
    url: `http://127.0.0.1:${port}/dav`,
    root: join(base, 'dav'),
    stop: async () => {
      const pid = Number((await readFile(join(base, 'run', 'httpd.pid'), 'utf8').catch(() => '0')).trim());
      await exec('apache2', ['-f', conf, '-k', 'stop']);
      for (let i = 0; pid && i < 200; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    },
  };
}

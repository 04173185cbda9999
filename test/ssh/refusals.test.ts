/**
 * What create-sibling refuses, against a real sshd: an unknown host key (with
 * the fingerprint ssh-keygen computes and a command that really adds it), a
 * changed one, keys the server does not accept, a key with a passphrase, a
 * closed port, a name that does not resolve. Each is one line on stderr, exit
 * 1, and nothing is created on the host or configured here. And what it
 * accepts: hashed known_hosts entries, the host key type known_hosts has
 * when the server offers several, keys from a real ssh-agent, -i.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { closedPort } from '../support/servers.js';
import { generateKey, sshClient, startSshd, type SshClient, type Sshd } from '../support/sshd.js';
import { BIN_DIR } from '../support/tools.js';

let sandbox: Sandbox;
let sshd: Sshd;
let client: SshClient;
let repo: AnnexRepo;
let n = 0;

beforeAll(async () => {
  sandbox = await createSandbox();
  // Two host keys: ssh2 would pick ed25519 first; known_hosts may have only the ECDSA one.
  sshd = await startSshd(join(sandbox.dir, 'sshd'), { hostKeyTypes: ['ed25519', 'ecdsa'] });
  repo = await AnnexRepo.create(sandbox, 'ds');
  await repo.write('a.txt', 'a\n');
  await repo.commitAll();
});
afterAll(async () => {
  await sshd?.stop();
  await sandbox?.cleanup();
});
beforeEach(async () => {
  // Every test starts as a user who has logged in to the server once.
  client = await sshClient(sandbox.env.HOME as string, sshd);
});

const annexd = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<ExecResult> =>
  exec(join(BIN_DIR, 'annexd'), args, { cwd: repo.path, env: { ...repo.env, ...client.env, ...env } });

/** A target path and sibling name nobody has used, and the URL (tests do not share outcomes). */
function fresh(): { path: string; url: string; name: string } {
  const path = join(sandbox.dir, 'srv', `ds${++n}.git`);
  return { path, url: `ssh://${sshd.user}@127.0.0.1:${sshd.port}${path}`, name: `s${n}` };
}

async function remotes(): Promise<string[]> {
  return (await repo.ok('git', 'remote')).stdout.split('\n').filter(Boolean);
}

/** Refused: exit 1, one line on stderr matching `message`, nothing on the host, no new remote. */
async function expectRefused(r: ExecResult, path: string, message: RegExp, before: string[]): Promise<string> {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(existsSync(path)).toBe(false);
  expect(await remotes()).toEqual(before);
  return lines[0] as string;
}

async function fingerprintOf(pubFile: string): Promise<string> {
  const r = await exec('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile]);
  return (/(SHA256:\S+)/.exec(r.stdout) as RegExpExecArray)[1] as string;
}

describe('host keys', () => {
  it('refuses an unknown host with its fingerprint and a command that adds it; after running that command it works', async () => {
    await writeFile(client.knownHosts, '');
    const { path, url, name } = fresh();
    const before = await remotes();
    const line = await expectRefused(await annexd(['create-sibling', url, '-s', name]), path, /host key of \[127\.0\.0\.1\]:\d+ is not known/, before);
    expect(line).toContain(await fingerprintOf(`${sshd.hostKey.path}.pub`));
    expect(line).toContain('ED25519 key');
    expect(line).toContain('nothing was done');
    const keyscan = /"(ssh-keyscan [^"]+)"/.exec(line)?.[1];
    expect(keyscan).toBe(`ssh-keyscan -p ${sshd.port} -t ed25519 127.0.0.1 >> ~/.ssh/known_hosts`);
    expect(line).toContain(`"ssh -p ${sshd.port} ${sshd.user}@127.0.0.1"`);

    // The advice is real: run it (~ is this HOME) and try again.
    const scan = await exec('ssh-keyscan', ['-p', String(sshd.port), '-t', 'ed25519', '127.0.0.1']);
    expect(scan.code, scan.stderr).toBe(0);
    await appendFile(client.knownHosts, scan.stdout);
    const ok = await annexd(['create-sibling', url, '-s', name]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(join(path, 'HEAD'))).toBe(true);
  });

  it('refuses a changed host key loudly, naming the known_hosts line and ssh-keygen -R', async () => {
    const impostor = await generateKey(join(sandbox.dir, `impostor${++n}`));
    await writeFile(client.knownHosts, `# first line\n${sshd.knownHostsLineFor(impostor)}\n`);
    const { path, url, name } = fresh();
    const line = await expectRefused(await annexd(['create-sibling', url, '-s', name]), path, /^annexd: WARNING: the host key of \[127\.0\.0\.1\]:\d+ has CHANGED/, await remotes());
    expect(line).toContain(await fingerprintOf(`${sshd.hostKey.path}.pub`));
    expect(line).toContain('~/.ssh/known_hosts:2');
    expect(line).toContain(`ssh-keygen -f ~/.ssh/known_hosts -R '[127.0.0.1]:${sshd.port}'`);
  });

  it('refuses a key marked @revoked', async () => {
    await appendFile(client.knownHosts, `@revoked * ${sshd.hostKey.publicLine}\n`);
    const { path, url, name } = fresh();
    await expectRefused(await annexd(['create-sibling', url, '-s', name]), path, /, ED25519 key SHA256:\S+, is revoked \(@revoked in ~\/\.ssh\/known_hosts:2\): refused; nothing was done/, await remotes());
  });

  it('accepts hashed known_hosts entries (ssh-keygen -H)', async () => {
    const hashed = await exec('ssh-keygen', ['-H', '-f', client.knownHosts]);
    expect(hashed.code, hashed.stderr).toBe(0);
    const { path, url, name } = fresh();
    await rm(`${client.knownHosts}.old`, { force: true });
    expect(existsSync(client.knownHosts)).toBe(true);
    const r = await annexd(['create-sibling', url, '-s', name]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(path, 'HEAD'))).toBe(true);
  });

  it('asks for the key type known_hosts has when the server offers several (ECDSA known, ED25519 offered first)', async () => {
    const ecdsa = sshd.hostKeys[1];
    if (!ecdsa) throw new Error('the test server has no ECDSA host key');
    await writeFile(client.knownHosts, `${sshd.knownHostsLineFor(ecdsa)}\n`);
    const { path, url, name } = fresh();
    const r = await annexd(['create-sibling', url, '-s', name]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(path, 'HEAD'))).toBe(true);
  });
});

describe('login', () => {
  it('refuses keys the server does not accept, naming them (Permission denied)', async () => {
    const other = await generateKey(join(sandbox.dir, `stranger${++n}`));
    await writeFile(join(client.sshDir, 'id_ed25519'), await import('node:fs/promises').then((fs) => fs.readFile(other.path)), { mode: 0o600 });
    const { path, url, name } = fresh();
    const line = await expectRefused(await annexd(['create-sibling', url, '-s', name]), path, /^annexd: Permission denied \(publickey\): .*accepted none of the keys offered \(~\/\.ssh\/id_ed25519\)/, await remotes());
    expect(line).toContain('-i FILE');
  });

  it('logs in with RSA and ECDSA keys found as ~/.ssh/id_rsa and ~/.ssh/id_ecdsa (rsa-sha2 signatures)', async () => {
    await rm(join(client.sshDir, 'id_ed25519'));
    for (const type of ['rsa', 'ecdsa'] as const) {
      const key = await generateKey(join(client.sshDir, `id_${type}`), type);
      await sshd.authorize(key.publicLine);
      const { path, url, name } = fresh();
      const r = await annexd(['create-sibling', url, '-s', name]);
      expect(r.code, `${type}: ${r.stderr}`).toBe(0);
      expect(existsSync(join(path, 'HEAD'))).toBe(true);
      await rm(key.path);
      await rm(`${key.path}.pub`);
    }
  });

  it('says how to use a key with a passphrase (ssh-agent), and never asks for one', async () => {
    await rm(join(client.sshDir, 'id_ed25519'));
    await generateKey(join(client.sshDir, 'id_ed25519'), 'ed25519', 'locked', 'correct horse');
    const { path, url, name } = fresh();
    await expectRefused(await annexd(['create-sibling', url, '-s', name]), path, /no key to log in to .*~\/\.ssh\/id_ed25519 has a passphrase \(add it to ssh-agent: ssh-add ~\/\.ssh\/id_ed25519\)/, await remotes());
  });

  it('logs in with a key from a real ssh-agent, and with -i KEYFILE', async () => {
    await rm(join(client.sshDir, 'id_ed25519'));
    const socket = join(sandbox.dir, `agent${++n}.sock`);
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
      const add = await exec('ssh-add', [sshd.clientKey.path], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      expect(add.code, add.stderr).toBe(0);
      const viaAgent = fresh();
      const r = await annexd(['create-sibling', viaAgent.url, '-s', viaAgent.name], { SSH_AUTH_SOCK: socket });
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(join(viaAgent.path, 'HEAD'))).toBe(true);
    } finally {
      agent.kill('SIGTERM');
    }
    // Without the agent and without ~/.ssh keys: -i names the key.
    const viaFile = fresh();
    const none = await annexd(['create-sibling', viaFile.url, '-s', viaFile.name]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no key to log in to .*no ssh-agent \(SSH_AUTH_SOCK is not set\), none of ~\/\.ssh\/id_ed25519, ~\/\.ssh\/id_ecdsa, ~\/\.ssh\/id_rsa exists/);
    const r = await annexd(['create-sibling', viaFile.url, '-s', viaFile.name, '-i', sshd.clientKey.path]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(viaFile.path, 'HEAD'))).toBe(true);
    const missing = await annexd(['create-sibling', fresh().url, '-i', join(sandbox.dir, 'no-such-key')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read the key .*no-such-key: no such file/);
  });
});

describe('reaching the host', () => {
  it('names a refused connection and a name that does not resolve, in one line', async () => {
    const port = await closedPort();
    const before = await remotes();
    const path = join(sandbox.dir, 'srv', 'never.git');
    const refused = await annexd(['create-sibling', `ssh://127.0.0.1:${port}${path}`, '--json']);
    await expectRefused(refused, path, new RegExp(`cannot reach 127\\.0\\.0\\.1 port ${port}: connection refused \\(is sshd running`), before);
    expect(JSON.parse(refused.stdout)).toMatchObject({ exitCode: 1 });
    const unresolved = await annexd(['create-sibling', `nohost.invalid:${path}`]);
    await expectRefused(unresolved, path, /cannot reach nohost\.invalid port 22: the host name (does not resolve|could not be resolved)/, before);
  });

  it('names a server that does not answer SSH within ConnectTimeout, and one that speaks something else', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock));
    const http = createServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    const listen = (srv: import('node:net').Server): Promise<number> =>
      new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port)));
    const [silentPort, httpPort] = [await listen(silent), await listen(http)];
    try {
      await writeFile(join(client.sshDir, 'config'), 'Host *\n  ConnectTimeout 1\n');
      const before = await remotes();
      const path = join(sandbox.dir, 'srv', 'silent.git');
      const r = await annexd(['create-sibling', `ssh://127.0.0.1:${silentPort}${path}`]);
      await expectRefused(r, path, /no SSH answer from .*127\.0\.0\.1 port \d+ within 1 s \(timed out during the handshake\)/, before);
      const h = await annexd(['create-sibling', `ssh://127.0.0.1:${httpPort}${path}`]);
      await expectRefused(h, path, /127\.0\.0\.1 port \d+ .*(not|does not speak) SSH/, before);
    } finally {
      await rm(join(client.sshDir, 'config'), { force: true });
      for (const s of sockets) s.destroy();
      silent.close();
      http.close();
    }
  });

  it('refuses a host that ~/.ssh/config reaches through a jump host, before connecting', async () => {
    await writeFile(join(client.sshDir, 'config'), `Host behind\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  ProxyJump bastion.invalid\n`);
    try {
      const path = join(sandbox.dir, 'srv', 'behind.git');
      const r = await annexd(['create-sibling', `behind:${path}`]);
      await expectRefused(r, path, /~\/\.ssh\/config reaches behind through "ProxyJump bastion\.invalid", which annexd cannot follow yet/, await remotes());
    } finally {
      await rm(join(client.sshDir, 'config'), { force: true });
    }
  });

  it('refuses what is not an SSH target, before connecting', async () => {
    const cases: Array<[string[], RegExp, number]> = [
      [['create-sibling', '/local/path'], /is not an SSH target \(a local path\?\): use \[user@\]host:path or ssh:\/\//, 1],
      [['create-sibling', 'https://example.org/ds'], /is not an SSH target/, 1],
      [['create-sibling', 'host:'], /names no path on host/, 1],
      [['create-sibling', 'ssh://host:99999/x'], /port 99999 is not a TCP port/, 1],
      [['create-sibling'], /takes one SSH target/, 2],
      [['create-sibling', 'h:x', '--existing', 'replace'], /--existing must be one of error, skip, reconfigure/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = await annexd(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('what the host lacks', () => {
  /** A second server whose sessions find only the programs linked into `bin`, and `git-annex` as `annexScript` if given. */
  async function hostWith(name: string, annexScript?: string): Promise<Sshd> {
    const bin = join(sandbox.dir, name, 'bin');
    await mkdir(bin, { recursive: true });
    for (const tool of ['sh', 'ls', 'mkdir', 'rm', 'find', 'dirname', 'git', 'git-annex-shell']) {
      const found = (await exec('sh', ['-c', `command -v ${tool}`])).stdout.trim();
      await symlink(found, join(bin, tool));
    }
    if (annexScript) await writeFile(join(bin, 'git-annex'), annexScript, { mode: 0o755 });
    return startSshd(join(sandbox.dir, name), { sessionPath: bin });
  }

  it('names a host without git-annex, before creating anything', async () => {
    const host = await hostWith('no-annex');
    try {
      const c = await sshClient(sandbox.env.HOME as string, host);
      const path = join(sandbox.dir, 'srv', 'no-annex.git');
      const r = await exec(join(BIN_DIR, 'annexd'), ['create-sibling', `ssh://${host.user}@127.0.0.1:${host.port}${path}`, '-s', 'noannex'], { cwd: repo.path, env: { ...repo.env, ...c.env } });
      await expectRefused(r, path, /git-annex is not installed on .* port \d+ \(git-annex-shell is not on the PATH of its ssh sessions\): it is required on the remote machine to create a sibling/, await remotes());
    } finally {
      await host.stop();
    }
  });

  it('removes what it made when git annex init fails on the host', async () => {
    const annex = `#!/bin/sh\nif [ "$1" = version ]; then exec /usr/bin/git-annex "$@"; fi\necho "git-annex: simulated failure: no space left on device" >&2\nexit 1\n`;
    const host = await hostWith('annex-fails', annex);
    try {
      const c = await sshClient(sandbox.env.HOME as string, host);
      await mkdir(join(sandbox.dir, 'srv'), { recursive: true });
      const path = join(sandbox.dir, 'srv', 'deep', 'er', 'fails.git');
      const r = await exec(join(BIN_DIR, 'annexd'), ['create-sibling', `ssh://${host.user}@127.0.0.1:${host.port}${path}`, '-s', 'fails'], { cwd: repo.path, env: { ...repo.env, ...c.env } });
      await expectRefused(r, path, /cannot create the repository .*fails\.git on .*: git-annex: simulated failure: no space left on device; nothing was left there/, await remotes());
      // Nor the parents it had to make.
      expect(existsSync(join(sandbox.dir, 'srv', 'deep'))).toBe(false);
      expect(existsSync(join(sandbox.dir, 'srv'))).toBe(true);
    } finally {
      await host.stop();
    }
  });
});

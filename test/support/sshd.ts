/**
 * A real OpenSSH server (Debian's openssh-server) on a loopback port for
 * tests: its own host key, sshd_config and authorized_keys in a test
 * directory, run in the foreground as the current user (root in CI, or an
 * unprivileged user: then only that user can log in, which is all tests need).
 * Nothing under ~/.ssh or /etc/ssh is read or written.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { AnnexRepo, createSandbox, type Sandbox } from './annex.js';
import { onFreePort, pidExited } from './servers.js';
import { BIN_DIR, requireTool } from './tools.js';

const SSHD = '/usr/sbin/sshd';

export interface KeyPair {
  /** Path of the private key (the public one is PATH.pub). */
  path: string;
  /** The public key line, "ssh-ed25519 AAAA… comment". */
  publicLine: string;
}

/** `ssh-keygen -t TYPE` at `path` (without a passphrase unless one is given). */
export async function generateKey(path: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519', comment = 'annexd-test', passphrase = ''): Promise<KeyPair> {
  requireTool('ssh-keygen', 'apt-get install -y openssh-client');
  const r = await exec('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', comment, '-f', path]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return { path, publicLine: (await readFile(`${path}.pub`, 'utf8')).trim() };
}

export interface Sshd {
  port: number;
  /** The user tests log in as: whoever runs the tests. */
  user: string;
  /** The server's (first) host key. */
  hostKey: KeyPair;
  /** Every host key it offers. */
  hostKeys: KeyPair[];
  /** A client key listed in authorized_keys. */
  clientKey: KeyPair;
  /** The line for a known_hosts file: "[127.0.0.1]:PORT ssh-ed25519 AAAA…". */
  knownHostsLine: string;
  /** The same line for another key (a changed or other-type host key). */
  knownHostsLineFor(key: KeyPair): string;
  /** HOME of the sessions (set by the server, so remote git and git-annex never read the real ~). */
  remoteHome: string;
  /** Options for OpenSSH's ssh (git, git-annex) that trust this server and use the client key, nothing from ~/.ssh. */
  sshOptions(knownHostsFile: string): string[];
  /** Adds a public key line to authorized_keys (read by sshd at each login). */
  authorize(publicLine: string): Promise<void>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function waitForBanner(port: number, child: ChildProcess, logFile: string): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = existsSync(logFile) ? await readFile(logFile, 'utf8') : '';
      throw new Error(`sshd exited with code ${child.exitCode}: ${log.trim()}`);
    }
    const banner = await new Promise<string>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let got = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        got += d;
        if (got.includes('\n')) sock.destroy();
      });
      sock.on('error', () => resolve(''));
      sock.on('close', () => resolve(got));
    });
    if (banner.startsWith('SSH-2.0-')) return;
    if (Date.now() > until) throw new Error(`sshd on port ${port} did not answer with an SSH banner`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type KeyType = 'ed25519' | 'ecdsa' | 'rsa';

/**
 * Starts sshd in `dir` (created) on a free loopback port with host keys of
 * `hostKeyTypes` (default one ed25519 key, so the type a client sees is known).
 * `sessionPath` replaces the PATH of its sessions (a host that lacks a program).
 */
export async function startSshd(dir: string, options: { hostKeyTypes?: KeyType[]; sessionPath?: string } = {}): Promise<Sshd> {
  if (!existsSync(SSHD)) {
    throw new Error(`this test needs ${SSHD}, which is not installed: run "apt-get install -y openssh-server" (scripts/setup.sh does it)`);
  }
  requireTool('ssh', 'apt-get install -y openssh-client');
  await mkdir(dir, { recursive: true });
  const remoteHome = join(dir, 'remote-home');
  await mkdir(remoteHome, { recursive: true });
  const hostKeys: KeyPair[] = [];
  for (const type of options.hostKeyTypes ?? ['ed25519']) hostKeys.push(await generateKey(join(dir, `host_key_${type}`), type, 'test-host'));
  const hostKey = hostKeys[0] as KeyPair;
  const clientKey = await generateKey(join(dir, 'id_client'));
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKey.publicLine}\n`, { mode: 0o600 });
  // As root, sshd wants its privilege separation directory.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const user = userInfo().username;
  const logFile = join(dir, 'sshd.log');

  return onFreePort(async (port) => {
    const config = join(dir, `sshd_config-${port}`);
    await writeFile(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        // IPv6 loopback too (sshd goes on if this machine has none; the IPv6 test then fails saying so).
        'ListenAddress ::1',
        ...hostKeys.map((k) => `HostKey ${k.path}`),
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        // The test directory is under /tmp (world-writable parent): sshd's ownership checks would refuse it.
        'StrictModes no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        `AllowUsers ${user}`,
        // Sessions get a HOME of their own: remote git/git-annex never read the real user's config.
        `SetEnv HOME=${remoteHome}${options.sessionPath ? ` PATH=${options.sessionPath}` : ''} GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=remote GIT_AUTHOR_EMAIL=remote@annexd.invalid GIT_COMMITTER_NAME=remote GIT_COMMITTER_EMAIL=remote@annexd.invalid`,
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-f', config, '-E', logFile], { stdio: 'ignore' });
    try {
      await waitForBanner(port, child, logFile);
    } catch (err) {
      child.kill('SIGTERM');
      throw err;
    }
    const knownHostsLineFor = (key: KeyPair): string => `[127.0.0.1]:${port} ${key.publicLine.split(' ').slice(0, 2).join(' ')}`;
    const knownHostsLine = knownHostsLineFor(hostKey);
    return {
      port,
      user,
      hostKey,
      hostKeys,
      clientKey,
      knownHostsLine,
      knownHostsLineFor,
      remoteHome,
      sshOptions: (knownHostsFile: string) => [
        '-F', '/dev/null',
        '-i', clientKey.path,
        '-o', 'IdentitiesOnly=yes',
        '-o', `UserKnownHostsFile=${knownHostsFile}`,
        '-o', 'GlobalKnownHostsFile=/dev/null',
        '-o', 'StrictHostKeyChecking=yes',
        '-o', 'BatchMode=yes',
      ],
      authorize: (line: string) => appendFile(authorizedKeys, `${line}\n`),
      log: () => readFile(logFile, 'utf8').catch(() => ''),
      stop: async () => {
        if (child.exitCode !== null || child.pid === undefined) return;
        child.kill('SIGTERM');
        await pidExited(child.pid);
      },
    };
  });
}

export interface SshClient {
  /** HOME/.ssh of the sandbox. */
  sshDir: string;
  knownHosts: string;
  /** Environment for annexd, git and git-annex: GIT_SSH_COMMAND trusts the server with the client key; no agent. */
  env: NodeJS.ProcessEnv;
}

/**
 * Sets the sandbox's HOME/.ssh up as a user who has logged in once: the
 * server's key in known_hosts (unless `trust: false`) and the client key as
 * ~/.ssh/id_ed25519. OpenSSH's ssh (which git and git-annex run) takes its
 * home from the password database, not $HOME, so GIT_SSH_COMMAND names the
 * same files explicitly.
 */
export async function sshClient(home: string, sshd: Sshd, options: { trust?: boolean } = {}): Promise<SshClient> {
  const sshDir = join(home, '.ssh');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  const knownHosts = join(sshDir, 'known_hosts');
  await writeFile(knownHosts, options.trust === false ? '' : `${sshd.knownHostsLine}\n`);
  await writeFile(join(sshDir, 'id_ed25519'), await readFile(sshd.clientKey.path), { mode: 0o600 });
  const quote = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`;
  // One program for all three ssh users: git (GIT_SSH_COMMAND), git-annex (with
  // GIT_ANNEX_USE_GIT_SSH, as it adds a -n first) and DataLad's own connections.
  // Unquoted in GIT_SSH_COMMAND: git-annex hands that to rsync -e without a shell.
  const wrapper = join(sshDir, 'ssh-test');
  if (/\s/.test(wrapper)) throw new Error(`the test HOME ${home} must not contain spaces`);
  await writeFile(wrapper, `#!/bin/sh\nexec ssh ${sshd.sshOptions(knownHosts).map(quote).join(' ')} "$@"\n`, { mode: 0o755 });
  return {
    sshDir,
    knownHosts,
    env: { SSH_AUTH_SOCK: '', GIT_ANNEX_USE_GIT_SSH: '1', GIT_SSH_COMMAND: wrapper, DATALAD_SSH_EXECUTABLE: wrapper },
  };
}


/** A test file's world: a sandbox, a real sshd, a client HOME that trusts it, and a committed git-annex dataset. */
export interface SshScene {
  readonly sandbox: Sandbox;
  readonly sshd: Sshd;
  readonly client: SshClient;
  readonly repo: AnnexRepo;
  /** ssh://user@127.0.0.1:PORT/PATH on the test server. */
  url(path: string): string;
  /** annexd ARGS in the dataset. */
  annexd(...args: string[]): Promise<ExecResult>;
  /** git ARGS in `dir` (a repository on the host, say), its trimmed stdout; throws when git fails. */
  gitIn(dir: string, ...args: string[]): Promise<string>;
  /** `git config --get KEY` in the dataset, undefined when unset. */
  config(key: string): Promise<string | undefined>;
}

/** Registers beforeAll/afterAll that set up (and take down) an SshScene whose dataset holds `files`. */
export function useSshScene(files: Record<string, string | Buffer>, before?: () => void): SshScene {
  const s = {} as { sandbox: Sandbox; sshd: Sshd; client: SshClient; repo: AnnexRepo };
  beforeAll(async () => {
    before?.();
    s.sandbox = await createSandbox();
    s.sshd = await startSshd(join(s.sandbox.dir, 'sshd'));
    s.client = await sshClient(s.sandbox.env.HOME as string, s.sshd);
    Object.assign(s.sandbox.env, s.client.env);
    s.repo = await AnnexRepo.create(s.sandbox, 'ds');
    for (const [path, content] of Object.entries(files)) await s.repo.write(path, content);
    await s.repo.commitAll();
  });
  afterAll(async () => {
    await s.sshd?.stop();
    await s.sandbox?.cleanup();
  });
  return {
    get sandbox() { return s.sandbox; },
    get sshd() { return s.sshd; },
    get client() { return s.client; },
    get repo() { return s.repo; },
    url: (path) => `ssh://${s.sshd.user}@127.0.0.1:${s.sshd.port}${path}`,
    annexd: (...args) => exec(join(BIN_DIR, 'annexd'), args, { cwd: s.repo.path, env: s.repo.env }),
    gitIn: async (dir, ...args) => {
      const r = await exec('git', args, { cwd: dir, env: s.repo.env });
      if (r.code !== 0) throw new Error(`git ${args.join(' ')} in ${dir}: ${r.stderr}`);
      return r.stdout.trim();
    },
    config: async (key) => {
      const r = await s.repo.run('git', ['config', '--get', key]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    },
  };
}

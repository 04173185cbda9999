/**
 * One SSH connection (ssh2) that behaves like OpenSSH's `ssh` with
 * StrictHostKeyChecking=yes and BatchMode=yes: the host key must already be
 * in known_hosts (unknown, changed and revoked keys are refused before
 * anything is sent), authentication is by ssh-agent or key files only, never
 * a password, and every failure is one line saying what to do.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { AnyAuthMethod, Client, ClientChannel, ConnectConfig, ParsedKey } from 'ssh2';
import { networkProblem } from '../../remotes/core/net-errors.js';
import { expandPath, hostConfig } from './config.js';
import { SshError } from './errors.js';
import {
  checkHostKey,
  defaultKnownHostsFiles,
  fingerprint,
  keyLabel,
  keyscanType,
  keyTypeOf,
  knownHostsName,
  knownKeyTypes,
  readKnownHosts,
  type HostKeyVerdict,
} from './known-hosts.js';
import type { SshTarget } from './target.js';

/** ssh2 is loaded when a connection is made, not by every annexd command that imports this (~35 ms). */
const loadSsh2 = async (): Promise<typeof import('ssh2')> => (await import('ssh2')).default;

/** Keys ssh tries when none is named (those ssh2 can use: no DSA, no -sk hardware keys). */
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** ssh2's default host key algorithms, in its order; the ones known for a host go first. */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] as const;
type HostKeyAlgorithm = (typeof HOST_KEY_ALGORITHMS)[number];

const algorithmsFor = (keyType: string): HostKeyAlgorithm[] =>
  keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : HOST_KEY_ALGORITHMS.filter((a) => a === keyType);

export interface ConnectOptions {
  /** Key files named with -i (tried after the agent, instead of the default ones). */
  identityFiles?: string[];
  /** Where SSH_AUTH_SOCK is read from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Time for the connection and handshake; default ConnectTimeout from ~/.ssh/config, else 20 s. */
  timeoutMs?: number;
}

/** Where a connection goes once ~/.ssh/config is applied. */
export interface ResolvedHost {
  host: string;
  /** The name known_hosts files the key under: HostKeyAlias as it is (ssh adds no port to it), else host or [host]:port. */
  keyName: string;
  port: number;
  user: string;
  identityFiles: string[];
  /** IdentitiesOnly from ~/.ssh/config. */
  identitiesOnly: boolean;
  knownHostsFiles: string[];
  timeoutMs: number;
}

export async function resolveHost(target: SshTarget, options: ConnectOptions = {}): Promise<ResolvedHost> {
  const cfg = await hostConfig(target.host);
  if (cfg.proxy) {
    // Connecting directly instead would reach another host, or time out: say so before trying.
    throw new SshError(`~/.ssh/config reaches ${target.host} through "${cfg.proxy}", which annexd cannot follow yet: use a host annexd can reach directly, or make the sibling with "datalad create-sibling"`);
  }
  const host = cfg.hostName ? expandPath(cfg.hostName.replace(/%h/g, target.host), { host: target.host, user: '' }) : target.host;
  const user = target.user ?? cfg.user ?? userInfo().username;
  const vars = { host, user };
  const named = options.identityFiles?.length ? options.identityFiles : cfg.identityFiles.map((f) => expandPath(f, vars));
  const home = homedir();
  const knownHostsFiles = cfg.userKnownHostsFiles?.length
    ? [...cfg.userKnownHostsFiles.map((f) => expandPath(f, vars)), ...defaultKnownHostsFiles(home).slice(2)]
    : defaultKnownHostsFiles(home);
  const port = target.port ?? cfg.port ?? 22;
  return {
    host,
    keyName: cfg.hostKeyAlias ?? knownHostsName(host, port),
    port,
    user,
    identityFiles: named.length ? named : DEFAULT_IDENTITIES.map((f) => join(home, '.ssh', f)),
    identitiesOnly: cfg.identitiesOnly === true,
    knownHostsFiles,
    timeoutMs: options.timeoutMs ?? (cfg.connectTimeout ? cfg.connectTimeout * 1000 : 20_000),
  };
}

/** `~/.ssh/id_ed25519` for messages: the home directory shortened as people write it. */
const tilde = (path: string): string => {
  const home = homedir();
  return path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
};

interface LoadedKeys {
  keys: { file: string; key: ParsedKey }[];
  /** Files that exist but cannot be used, with the reason. */
  unusable: string[];
}

async function loadKeys(files: string[], named: boolean, parseKey: (typeof import('ssh2'))['utils']['parseKey']): Promise<LoadedKeys> {
  const loaded: LoadedKeys = { keys: [], unusable: [] };
  for (const file of files) {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !named) continue;
      throw new SshError(`cannot read the key ${tilde(file)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    const parsed = parseKey(data);
    if (parsed instanceof Error) {
      const encrypted = /encrypted|passphrase/i.test(parsed.message);
      loaded.unusable.push(
        encrypted
          ? `${tilde(file)} has a passphrase (add it to ssh-agent: ssh-add ${tilde(file)})`
          : `${tilde(file)} is not a private key ssh2 can read (${parsed.message})`,
      );
      continue;
    }
    const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
    if (!key.isPrivateKey()) {
      loaded.unusable.push(`${tilde(file)} is a public key, not a private one`);
      continue;
    }
    loaded.keys.push({ file, key });
  }
  return loaded;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class SshConnection {
  private constructor(
    private readonly client: Client,
    readonly host: ResolvedHost,
  ) {}

  /** "root@example.org port 2222" for messages. */
  get where(): string {
    return describe(this.host);
  }

  /** Connects, checks the host key and logs in. */
  static async open(target: SshTarget, options: ConnectOptions = {}): Promise<SshConnection> {
    const host = await resolveHost(target, options);
    const entries = await readKnownHosts(host.knownHostsFiles);
    const known = knownKeyTypes(entries, host.keyName);
    const preferred = known.flatMap(algorithmsFor);
    const serverHostKey = [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])];

    const env = options.env ?? process.env;
    const agentSocket = env.SSH_AUTH_SOCK && existsSync(env.SSH_AUTH_SOCK) ? env.SSH_AUTH_SOCK : undefined;
    const ssh2 = await loadSsh2();
    const named = Boolean(options.identityFiles?.length);
    const { keys, unusable } = await loadKeys(host.identityFiles, named, ssh2.utils.parseKey);
    // Order as ssh: the agent's keys, then the files; a key named with -i goes first (servers stop after
    // MaxAuthTries, and that is the one asked for); with IdentitiesOnly the agent only stands in when no file can be used.
    const files: AnyAuthMethod[] = keys.map(({ key }) => ({ type: 'publickey', username: host.user, key }));
    const useAgent = agentSocket !== undefined && (!host.identitiesOnly || named || files.length === 0);
    const agent: AnyAuthMethod[] = useAgent ? [{ type: 'agent', username: host.user, agent: agentSocket }] : [];
    const auth: AnyAuthMethod[] = named ? [...files, ...agent] : [...agent, ...files];
    if (auth.length === 0) {
      throw new SshError(
        `no key to log in to ${describe(host)} with: ${agentSocket ? '' : 'no ssh-agent (SSH_AUTH_SOCK is not set), '}${
          unusable.length ? unusable.join('; ') : `none of ${host.identityFiles.map(tilde).join(', ')} exists`
        }. Create one with "ssh-keygen -t ed25519" and put the .pub line into ~/.ssh/authorized_keys on ${host.host}, or name a key with -i FILE`,
      );
    }

    let verdict: HostKeyVerdict | undefined;
    let presented: Buffer | undefined;
    const agentErrors: string[] = [];
    const client = new ssh2.Client();
    const config: ConnectConfig = {
      host: host.host,
      port: host.port,
      username: host.user,
      readyTimeout: host.timeoutMs,
      algorithms: { serverHostKey },
      authHandler: auth,
      hostVerifier: (key: Buffer): boolean => {
        presented = key;
        verdict = checkHostKey(entries, host.keyName, key);
        return verdict.status === 'known';
      },
    };
    await new Promise<void>((resolve, reject) => {
      client.on('ready', () => resolve());
      client.on('error', (err: Error & { level?: string }) => {
        // The agent failing to list or sign is not the end: the key files are tried next.
        if (err.level === 'agent') {
          agentErrors.push(err.message);
          return;
        }
        client.end();
        reject(explain(err, host, { verdict, presented, keys, unusable, agentSocket: useAgent ? agentSocket : undefined, agentErrors }));
      });
      // After an error this is a no-op (the promise is settled); alone, the server hung up before login.
      client.on('close', () => reject(new SshError(`${describe(host)} closed the connection before the login completed`)));
      try {
        client.connect(config);
      } catch (err) {
        reject(new SshError(`cannot connect to ${describe(host)}: ${(err as Error).message}`));
      }
    });
    return new SshConnection(client, host);
  }

  /** Runs `command` (a command line for the login shell, already quoted) on the host, with `input` on its stdin. */
  run(command: string, input = ''): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
        if (err) return reject(new SshError(`${this.where} refused to run a command: ${err.message}`));
        let stdout = '';
        let stderr = '';
        stream.setEncoding('utf8');
        stream.stderr.setEncoding('utf8');
        stream.on('data', (d: string) => (stdout += d));
        stream.stderr.on('data', (d: string) => (stderr += d));
        stream.on('close', (code: number | null, signal?: string) => resolve({ code: code ?? (signal ? 128 : 255), stdout, stderr }));
        stream.end(input);
      });
    });
  }

  close(): void {
    this.client.end();
  }
}

function describe(host: ResolvedHost): string {
  return `${host.user}@${host.host}${host.port === 22 ? '' : ` port ${host.port}`}`;
}

interface Failure {
  verdict: HostKeyVerdict | undefined;
  presented: Buffer | undefined;
  keys: { file: string }[];
  unusable: string[];
  agentSocket: string | undefined;
  agentErrors: string[];
}

/** The one line a failed connection gets. */
function explain(err: Error & { level?: string }, host: ResolvedHost, f: Failure): SshError {
  if (f.verdict && f.presented && f.verdict.status !== 'known') return new SshError(hostKeyMessage(host, f.verdict, f.presented));
  const where = describe(host);
  if (err.level === 'client-authentication') {
    const offered = [f.agentSocket ? 'the keys of ssh-agent' : undefined, ...f.keys.map((k) => tilde(k.file))].filter(Boolean).join(', ');
    const notes = [...f.unusable, ...f.agentErrors.map((m) => `ssh-agent: ${m}`)];
    return new SshError(
      `Permission denied (publickey): ${where} accepted none of the keys offered (${offered})${notes.length ? `; ${notes.join('; ')}` : ''}. ` +
        `Is the public key in ~/.ssh/authorized_keys of ${host.user} on ${host.host}? Another key can be named with -i FILE`,
    );
  }
  if (err.level === 'client-timeout') {
    return new SshError(`no SSH answer from ${where} within ${host.timeoutMs / 1000} s (timed out during the handshake): is it an SSH server, and reachable? (ConnectTimeout in ~/.ssh/config sets the wait)`);
  }
  const network = networkProblem(err, `${host.host} port ${host.port}`);
  if (network) return new SshError(`${network.replace('is the server running', 'is sshd running')}`);
  if (err.level === 'protocol' || err.level === 'handshake') {
    return new SshError(`${where} does not speak SSH as expected (${err.message}): is ${host.port} the port of its sshd?`);
  }
  return new SshError(`cannot connect to ${where}: ${err.message}`);
}

function hostKeyMessage(host: ResolvedHost, verdict: HostKeyVerdict, blob: Buffer): string {
  const type = keyTypeOf(blob);
  const presented = `${keyLabel(type)} key ${fingerprint(blob)}`;
  const name = host.keyName;
  const userFile = tilde(host.knownHostsFiles[0] as string);
  const portFlag = host.port === 22 ? '' : `-p ${host.port} `;
  const login = `"ssh ${portFlag}${host.user}@${host.host}"`;
  // ssh-keyscan files the key under the host's name; under a HostKeyAlias only ssh itself writes it right.
  const how = host.keyName === knownHostsName(host.host, host.port) ? `"ssh-keyscan ${portFlag}-t ${keyscanType(type)} ${host.host} >> ${userFile}" or by logging in once with ${login}` : `by logging in once with ${login}`;
  const add = `check it with the server's administrator (on the server: ssh-keygen -lf /etc/ssh/ssh_host_${keyscanType(type)}_key.pub), then add it with ${how}`;
  if (verdict.status === 'revoked') {
    return `the host key of ${name}, ${presented}, is revoked (@revoked in ${tilde(verdict.entry.file)}:${verdict.entry.line}): refused; nothing was done`;
  }
  if (verdict.status === 'changed') {
    const old = verdict.entries.map((e) => `${tilde(e.file)}:${e.line}`).join(', ');
    return (
      `WARNING: the host key of ${name} has CHANGED: it now presents ${presented}, not the one in ${old}. ` +
      `Someone may be intercepting the connection (or the host was reinstalled); nothing was done. ` +
      `If the change is expected, remove the old key with "ssh-keygen -f ${tilde((verdict.entries[0] as { file: string }).file)} -R '${name}'" and add the new one after checking its fingerprint`
    );
  }
  if (verdict.status === 'known') return `the host key of ${name} is known`;
  const other = verdict.otherTypes.length ? ` (known_hosts has ${verdict.otherTypes.join(', ')} for it, but the server offers none of these)` : '';
  return `the host key of ${name} is not known: the server presents ${presented}${other}; nothing was done. To trust it, ${add}`;
}

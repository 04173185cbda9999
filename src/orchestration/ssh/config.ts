/**
 * The part of ~/.ssh/config that decides where a connection goes and with
 * which key: Host blocks with HostName, User, Port, IdentityFile,
 * IdentitiesOnly, UserKnownHostsFile. git's own ssh reads the same file, so
 * annexd connects where `git push` will. First value wins, as in ssh;
 * `Match` blocks and `Include` are not read (their settings are ignored).
 * Written here because ssh2 reads no config and the npm parsers keep the text
 * but do not resolve a host's settings with ssh's rules.
 */
import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { matchesPatternList } from './patterns.js';

export interface HostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  identitiesOnly?: boolean;
  userKnownHostsFiles?: string[];
  /** ConnectTimeout, in seconds. */
  connectTimeout?: number;
  /** HostKeyAlias: the name known_hosts files the host key under. */
  hostKeyAlias?: string;
  /** ProxyJump or ProxyCommand, which ssh2 cannot follow: "ProxyJump bastion". */
  proxy?: string;
}

/** Splits "Key value", "Key=value", with "quoted words". */
function tokens(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|([^\s"=]+)|=/g;
  for (let m = re.exec(line); m; m = re.exec(line)) if (m[0] !== '=') out.push(m[1] ?? m[2] ?? '');
  return out;
}

/** `~`, %d (home), %u (local user), %h (host), %r (remote user), %% as ssh expands them in file names. */
export function expandPath(path: string, vars: { host: string; user: string }, home = homedir()): string {
  const withHome = path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;
  return withHome.replace(/%([duhr%])/g, (_, c: string) =>
    c === 'd' ? home : c === 'u' ? userInfo().username : c === 'h' ? vars.host : c === 'r' ? vars.user : '%',
  );
}

export function resolveHostConfig(text: string, alias: string): HostConfig {
  const cfg: HostConfig = { identityFiles: [] };
  let active = true; // settings before the first Host line apply to every host
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [keyword, ...args] = tokens(line);
    if (!keyword) continue;
    const key = keyword.toLowerCase();
    if (key === 'host') {
      active = matchesPatternList(alias, args);
      continue;
    }
    if (key === 'match') {
      active = false;
      continue;
    }
    if (!active || args.length === 0) continue;
    const value = args[0] as string;
    if (key === 'hostname') cfg.hostName ??= value;
    else if (key === 'user') cfg.user ??= value;
    else if (key === 'port' && cfg.port === undefined && /^\d+$/.test(value)) cfg.port = Number(value);
    else if (key === 'identityfile') cfg.identityFiles.push(value);
    else if (key === 'identitiesonly') cfg.identitiesOnly ??= value.toLowerCase() === 'yes';
    else if (key === 'userknownhostsfile') cfg.userKnownHostsFiles ??= args;
    else if (key === 'hostkeyalias') cfg.hostKeyAlias ??= value;
    else if ((key === 'proxyjump' || key === 'proxycommand') && cfg.proxy === undefined) cfg.proxy = value.toLowerCase() === 'none' ? '' : `${keyword} ${args.join(' ')}`;
    else if (key === 'connecttimeout' && cfg.connectTimeout === undefined && /^\d+$/.test(value)) cfg.connectTimeout = Number(value);
  }
  return cfg;
}

/** The settings ~/.ssh/config gives `alias`; none when the file does not exist. */
export async function hostConfig(alias: string, file = join(homedir(), '.ssh', 'config')): Promise<HostConfig> {
  try {
    return resolveHostConfig(await readFile(file, 'utf8'), alias);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { identityFiles: [] };
    throw err;
  }
}

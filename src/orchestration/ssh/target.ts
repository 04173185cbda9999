/**
 * SSH targets as git spells them: `ssh://[user@]host[:port]/path` (the path
 * absolute, `/~/path` under the home directory) and scp-like
 * `[user@]host:path` (a relative path is relative to the login directory; no
 * port in this form: use ssh:// or ~/.ssh/config). IPv6 literals go in
 * brackets in both: `ssh://[::1]:2222/srv/ds`, `user@[::1]:ds`.
 */
import { SshError } from './errors.js';

export interface SshTarget {
  /** The host as written (an alias ~/.ssh/config may resolve). */
  host: string;
  user: string | undefined;
  port: number | undefined;
  /** The path on the host: absolute, `~/…`, `~user/…`, or relative to the login directory. */
  path: string;
  /** The URL as given, for the git remote. */
  url: string;
}

const EXAMPLES = 'use [user@]host:path or ssh://[user@]host[:port]/path';

export function parseSshTarget(spec: string): SshTarget {
  if (/[\0\n\r]/.test(spec)) throw new SshError(`"${JSON.stringify(spec).slice(1, -1)}" has a control character: ${EXAMPLES}`);
  if (/^ssh:\/\//i.test(spec) || /^git\+ssh:\/\//i.test(spec) || /^ssh\+git:\/\//i.test(spec)) {
    const m = /^[a-z+]+:\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^:/]+)(?::(\d*))?(\/.*)?$/i.exec(spec);
    if (!m) throw new SshError(`cannot read "${spec}" as an SSH URL: ${EXAMPLES}`);
    const [, user, rawHost, port, rawPath] = m;
    const host = (rawHost as string).replace(/^\[(.*)\]$/, '$1');
    if (!rawPath || rawPath === '/') throw new SshError(`"${spec}" names no path on ${host}: say where the repository goes, e.g. ssh://${host}/srv/datasets/ds.git`);
    const portNumber = port ? Number(port) : undefined;
    if (portNumber !== undefined && (portNumber < 1 || portNumber > 65535)) throw new SshError(`"${spec}": port ${port} is not a TCP port (1-65535)`);
    // git: ssh://host/~/x and ssh://host/~user/x are under a home directory.
    const path = rawPath.startsWith('/~') ? rawPath.slice(1) : rawPath;
    return { host, user: user || undefined, port: portNumber, path: decodeURIComponent(path), url: spec };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new SshError(`"${spec}" is not an SSH target: ${EXAMPLES}`);
  // scp-like: only when there is no slash before the first colon (git's rule; else it is a local path).
  const m = /^(?:([^@/:[\]]+)@)?(\[[^\]]+\]|[^:/[\]]+):(.*)$/.exec(spec);
  if (!m) throw new SshError(`"${spec}" is not an SSH target (a local path?): ${EXAMPLES}`);
  const [, user, rawHost, path] = m;
  const host = (rawHost as string).replace(/^\[(.*)\]$/, '$1');
  if (!path) throw new SshError(`"${spec}" names no path on ${host}: say where the repository goes, e.g. ${spec}datasets/ds.git`);
  return { host, user: user || undefined, port: undefined, path: path as string, url: spec };
}

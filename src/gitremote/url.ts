/**
 * The URLs of the two helpers, read exactly as datalad-next reads them
 * (gitremotes/datalad_annex.py: get_initremote_params_from_url), so a URL
 * that works with DataLad works here:
 *
 *   datalad-annex::?type=T&K=V…          initremote parameters
 *   datalad-annex::<url>?K={path}&…      parameters with placeholders taken from <url>
 *   datalad-annex::<url>                 no type=: read-only web, type=web exporttree=yes url=<url>
 *   osf://NODEID[?api=URL]               datalad-osf's form, on annexd's osf remote
 *
 * Placeholders ({scheme} {netloc} {path} {fragment} {username} {password}
 * {hostname} {port} {noquery}) are expanded, then each parameter is
 * percent-decoded, as Python's str.format and urllib's unquote do.
 */
import { GitRemoteError } from './errors.js';

export interface RemoteSpec {
  /** initremote parameters, "key=value", in URL order (internal ones removed). */
  params: string[];
  /** dladotgit=uncompressed: store the ZIP members without compression. */
  uncompressed: boolean;
  /** dlacredential=NAME: the DataLad credential for git-annex's own webdav/S3 remotes. */
  credential: string | undefined;
  /** The URL for messages (no password). */
  display: string;
}

const INTERNAL = ['dladotgit=', 'dlacredential='];

interface ParsedUrl {
  scheme: string;
  netloc: string;
  path: string;
  query: string;
  fragment: string;
}

/** urllib.parse.urlsplit, as far as these URLs need it. */
function urlsplit(url: string): ParsedUrl {
  let rest = url;
  let scheme = '';
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (m) {
    scheme = m[1]!.toLowerCase();
    rest = rest.slice(m[0].length);
  }
  let netloc = '';
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
    rest = end < 0 ? '' : rest.slice(2 + end);
  }
  let fragment = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  let query = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  return { scheme, netloc, path: rest, query, fragment };
}

function unsplit(u: ParsedUrl): string {
  let s = u.scheme ? `${u.scheme}:` : '';
  if (u.netloc || u.scheme === 'file') s += `//${u.netloc}`;
  s += u.path;
  if (u.query) s += `?${u.query}`;
  if (u.fragment) s += `#${u.fragment}`;
  return s;
}

/** The placeholder values, as urlparse's attributes print in Python (a missing one is "None"). */
function expansions(u: ParsedUrl): Record<string, string> {
  const at = u.netloc.lastIndexOf('@');
  const userinfo = at >= 0 ? u.netloc.slice(0, at) : undefined;
  const hostport = at >= 0 ? u.netloc.slice(at + 1) : u.netloc;
  const colon = userinfo?.indexOf(':') ?? -1;
  const username = userinfo === undefined ? undefined : colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  const password = userinfo !== undefined && colon >= 0 ? userinfo.slice(colon + 1) : undefined;
  const hm = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostport);
  const hostname = hm?.[1] ? hm[1].replace(/^\[|\]$/g, '').toLowerCase() : undefined;
  const port = hm?.[2] ? String(Number(hm[2])) : undefined;
  return {
    scheme: u.scheme,
    netloc: u.netloc,
    path: u.path,
    fragment: u.fragment,
    username: username ?? 'None',
    password: password ?? 'None',
    hostname: hostname ?? 'None',
    port: port ?? 'None',
    noquery: unsplit({ ...u, query: '' }),
  };
}

/** str.format with named fields only; "{{" and "}}" are literal braces. */
function format(template: string, values: Record<string, string>, url: string): string {
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (whole, name: string | undefined) => {
    if (whole === '{{') return '{';
    if (whole === '}}') return '}';
    const v = name === undefined ? undefined : values[name];
    if (v === undefined) {
      throw new GitRemoteError(`${url}: unknown placeholder {${name}} (known: ${Object.keys(values).map((k) => `{${k}}`).join(' ')})`);
    }
    return v;
  });
}

function unquote(s: string, url: string): string {
  try {
    return decodeURIComponent(s.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'));
  } catch {
    throw new GitRemoteError(`${url}: "${s}" is not valid percent-encoded UTF-8`);
  }
}

/** The URL without a password, for messages. */
export function displayUrl(url: string): string {
  return url.replace(/(\/\/[^/@:?#]*):[^/@?#]*@/, '$1:***@');
}

export function parseDataladAnnexUrl(raw: string): RemoteSpec {
  const url = raw.startsWith('datalad-annex::') ? raw.slice('datalad-annex::'.length) : raw;
  const display = displayUrl(`datalad-annex::${url}`);
  if (!url) throw new GitRemoteError(`${display}: nothing follows "datalad-annex::": give ?type=…&… or a URL (see git-remote-datalad-annex --help)`);
  const parts = urlsplit(url);
  const values = expansions(parts);
  let params = parts.query
    .split('&')
    .filter((p) => p)
    .map((p) => unquote(format(p, values, display), display));
  if (!params.some((p) => p.startsWith('type='))) {
    if (!parts.scheme) throw new GitRemoteError(`${display}: no type= parameter and no URL: give ?type=…, e.g. datalad-annex::?type=directory&directory=/path&encryption=none`);
    params = ['type=web', 'exporttree=yes', `url=${url}`];
  }
  for (const p of params) {
    if (!/^[A-Za-z0-9_.-]+=/.test(p)) throw new GitRemoteError(`${display}: parameter "${p}" is not KEY=VALUE`);
  }
  const internal = (p: string): boolean => INTERNAL.some((i) => p.startsWith(i));
  const credential = params.find((p) => p.startsWith('dlacredential='))?.slice('dlacredential='.length);
  return {
    params: params.filter((p) => !internal(p)),
    uncompressed: params.includes('dladotgit=uncompressed'),
    credential: credential || undefined,
    display,
  };
}

/**
 * osf://NODEID, as datalad-osf's git-remote-osf takes it, plus an optional
 * ?api=URL for a self-hosted OSF; the default API comes from git config
 * annexd.osf.api or ANNEXD_OSF_API (none: the remote's default, api.osf.io).
 */
export function parseOsfUrl(raw: string, defaultApi: string | undefined): RemoteSpec {
  const parts = urlsplit(raw);
  const display = displayUrl(raw.replace(/\?.*/, ''));
  if (parts.scheme !== 'osf') throw new GitRemoteError(`${display}: not an osf:// URL (osf://NODEID, e.g. osf://ab12c)`);
  if (!/^[A-Za-z0-9]+$/.test(parts.netloc)) throw new GitRemoteError(`${display}: "${parts.netloc}" is not an OSF node id (osf://NODEID, e.g. osf://ab12c from https://osf.io/ab12c/)`);
  if (parts.path !== '' && parts.path !== '/') {
    throw new GitRemoteError(`${display}: osf:// URLs name a whole node, not a path in it (osf://${parts.netloc})`);
  }
  let api = defaultApi;
  for (const p of parts.query.split('&').filter((x) => x)) {
    const [k, ...v] = p.split('=');
    if (k === 'api') api = unquote(v.join('='), display);
    else throw new GitRemoteError(`${display}: unknown parameter "${k}" (osf:// URLs take only ?api=URL)`);
  }
  const params = ['type=external', 'externaltype=osf', 'encryption=none', `node=${parts.netloc}`];
  if (api) params.push(`api=${api}`);
  return { params, uncompressed: false, credential: undefined, display };
}

/** The value of parameter `key` in initremote parameters. */
export function param(params: string[], key: string): string | undefined {
  return params.find((p) => p.startsWith(`${key}=`))?.slice(key.length + 1);
}

/** The osf:// URL of a node, as parseOsfUrl reads it: ?api= only for an API other than `defaultApi` (osf.io's). */
export function formatOsfUrl(node: string, api: string, defaultApi: string): string {
  return api === defaultApi ? `osf://${node}` : `osf://${node}?api=${encodeURIComponent(api)}`;
}

/**
 * The datalad-annex::?type=…&… URL of initremote parameters ("key=value"),
 * as parseDataladAnnexUrl reads it back: each value percent-encoded (so
 * "&", "#", "%" and the placeholder braces stay literal), but ":" and "/"
 * kept, as datalad-next's urlquote keeps "/", so URLs in it stay readable.
 */
export function formatDataladAnnexUrl(params: readonly string[]): string {
  const query = params.map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new GitRemoteError(`parameter "${p}" is not KEY=VALUE`);
    return `${p.slice(0, eq)}=${encodeURIComponent(p.slice(eq + 1)).replace(/%2F/g, '/').replace(/%3A/g, ':')}`;
  });
  return `datalad-annex::?${query.join('&')}`;
}

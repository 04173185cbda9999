/**
 * `dl+archive:` locators as DataLad writes them (datalad-compat.md §2.2):
 *
 *   dl+archive:<ARCHIVE-KEY>#path=<member>&size=<bytes>[&atype=tar|zip]
 *   dl+archive:<ARCHIVE-KEY>/<member>#size=<bytes>          (legacy, no path=)
 *
 * The fragment is a query string as Python's urlencode writes it (space as "+",
 * other characters %XX, "/" left as is); the key part is percent-decoded.
 */
import { RemoteError } from '../../protocol/errors.js';

export const URL_PREFIX = 'dl+archive:';

export type ArchiveType = 'tar' | 'zip';

export interface ArchiveLocator {
  archiveKey: string;
  /** The member's path inside the archive, relative, "/"-separated. */
  path: string;
  size: number | undefined;
  atype: ArchiveType | undefined;
}

/** A dl+archive URL that cannot be read: the message names what is wrong with it. */
export class MalformedUrlError extends RemoteError {}

/** Python's unquote: invalid %-escapes stay as they are. */
function unquote(s: string): string {
  return s.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** Why a member path may not be used, or undefined when it is safe. */
export function memberPathProblem(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (path.startsWith('/')) return 'is absolute';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.split('/').includes('..')) return 'contains ".."';
  return undefined;
}

export function isArchiveUrl(url: string): boolean {
  return url.startsWith(URL_PREFIX);
}

export function parseArchiveUrl(url: string): ArchiveLocator {
  const bad = (why: string): MalformedUrlError =>
    new MalformedUrlError(
      `malformed archive URL ${url}: ${why} (expected ${URL_PREFIX}ARCHIVEKEY#path=MEMBER&size=BYTES, as "datalad add-archive-content" records)`,
    );
  if (!isArchiveUrl(url)) throw bad(`it does not start with ${URL_PREFIX}`);
  const rest = url.slice(URL_PREFIX.length);
  const hash = rest.indexOf('#');
  let locator = unquote(hash < 0 ? rest : rest.slice(0, hash));
  const fragment = new URLSearchParams(hash < 0 ? '' : rest.slice(hash + 1));
  let path = fragment.get('path') ?? undefined;
  if (path === undefined) {
    // Legacy form: KEY/MEMBER.
    const slash = locator.indexOf('/');
    if (slash < 0) throw bad('it names no member: there is no path= and no KEY/MEMBER');
    path = locator.slice(slash + 1);
    locator = locator.slice(0, slash);
  }
  // DataLad never writes a leading "/" (it strips it); one found here is refused, as
  // datalad-next's archivist refuses absolute paths and "..".
  if (!/^[A-Za-z0-9]+(?:-[a-zA-Z]\d+)*--\S+$/.test(locator)) throw bad(`"${locator}" is not a git-annex key`);
  const problem = memberPathProblem(path);
  if (problem) throw bad(`the member path "${path}" ${problem}`);
  const sizeText = fragment.get('size');
  let size: number | undefined;
  if (sizeText !== null && sizeText !== '') {
    if (!/^\d+$/.test(sizeText)) throw bad(`size=${sizeText} is not a number of bytes`);
    size = Number(sizeText);
  }
  const atypeText = fragment.get('atype');
  let atype: ArchiveType | undefined;
  if (atypeText !== null && atypeText !== '') {
    if (atypeText !== 'tar' && atypeText !== 'zip') throw bad(`atype=${atypeText} is neither tar nor zip`);
    atype = atypeText;
  }
  return { archiveKey: locator, path, size, atype };
}

/** Python's quote_plus, with "/" kept, as DataLad writes fragments. */
function quotePlus(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%7E/g, '~')
    .replace(/%20/g, '+');
}

/** The URL DataLad records for a member (the form `datalad add-archive-content` writes). */
export function formatArchiveUrl(archiveKey: string, path: string, size?: number): string {
  const p = path.replace(/^\/+/, '');
  const parts = [`path=${quotePlus(p)}`];
  if (size !== undefined) parts.push(`size=${size}`);
  let fragment = parts.join('&');
  // DataLad turns %2F back into "/" unless the value itself contained "%2F".
  if (!p.includes('%2F')) fragment = fragment.replace(/%2F/g, '/');
  return `${URL_PREFIX}${archiveKey}#${fragment}`;
}

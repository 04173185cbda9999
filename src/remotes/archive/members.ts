/**
 * Members of an archive and the safety rules for serving one: names are
 * normalised the way extraction tools write them ("./a" is "a"), unsafe names
 * (absolute, "..") are never served, links are followed only while they stay
 * inside the archive, and the size must be the one the URL and the key name.
 */
import { posix } from 'node:path';
import { MemberMissingError, RefusedMemberError } from './errors.js';

export type MemberType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface MemberInfo {
  /** Normalised name: no leading "./" or "/", no trailing "/". */
  name: string;
  /** The name as the archive has it, for messages. */
  raw: string;
  type: MemberType;
  size: number;
  /** Symlink target (relative to the link's directory) or hard link target (from the archive root). */
  linkname?: string;
  /** Why the member's own name is unsafe: never served. */
  unsafe?: string;
  /** The number of the file holding its data in the cache (tar archives in the cache). */
  slot?: number;
  /** Its cache file's mtime when written: a file changed since (through a hard link) is not used. */
  stamp?: number;
}

export function normalizeMemberName(raw: string): { name: string; unsafe?: string } {
  const absolute = raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw);
  let name = raw.replace(/\\/g, '/').replace(/^(?:\.\/|\/)+/, '').replace(/\/+$/, '');
  name = name.replace(/\/\.(?=\/|$)/g, '').replace(/\/{2,}/g, '/');
  if (absolute) return { name, unsafe: 'its path is absolute' };
  if (name.split('/').includes('..')) return { name, unsafe: 'its path contains ".."' };
  return { name };
}

/** Most links followed from one member before giving up (a loop). */
const MAX_HOPS = 16;

export interface Expected {
  /** size= of the URL. */
  urlSize: number | undefined;
  /** The size the key of the requested file names. */
  keySize: number | undefined;
  key: string;
}

/**
 * The regular-file member `path` stands for, following links inside the
 * archive; refuses unsafe members, links that leave the archive, and sizes
 * other than expected. `lookup` gives the (last) member of a name.
 */
export function resolveMember(
  archiveKey: string,
  path: string,
  lookup: (name: string) => MemberInfo | undefined,
  expected: Expected,
): MemberInfo {
  const refuse = (what: string, why: string): RefusedMemberError =>
    new RefusedMemberError(`refused member "${what}" of archive ${archiveKey}: ${why}`);
  let name = path;
  const via: string[] = [];
  for (let hop = 0; ; hop++) {
    const m = lookup(name);
    if (!m) {
      if (via.length > 0) throw refuse(path, `it is a link to "${name}", which is not in the archive`);
      throw new MemberMissingError(
        `archive ${archiveKey} has no member "${path}": the URL does not match the archive (was it made from another archive?)`,
      );
    }
    if (m.unsafe) throw refuse(m.raw, `${m.unsafe}, which could write outside the repository`);
    if (hop >= MAX_HOPS) throw refuse(path, `links lead on through more than ${MAX_HOPS} members (${via.join(' -> ')}), a loop`);
    if (m.type === 'file') {
      const sizeProblem = (size: number, what: string): void => {
        if (size !== m.size) {
          throw refuse(
            m.raw,
            `it has ${m.size} bytes but ${what} says ${size}: the archive is not the one the file was added from`,
          );
        }
      };
      if (expected.urlSize !== undefined) sizeProblem(expected.urlSize, 'the URL (size=)');
      if (expected.keySize !== undefined) sizeProblem(expected.keySize, `the key ${expected.key}`);
      return m;
    }
    if (m.type === 'symlink' || m.type === 'link') {
      const target = m.linkname ?? '';
      const joined = m.type === 'symlink' ? posix.join(posix.dirname(m.name), target) : target;
      const normal = posix.normalize(joined).replace(/\/+$/, '');
      const next = normal === '.' ? '' : normal;
      if (target === '' || target.startsWith('/') || next === '' || next === '..' || next.startsWith('../')) {
        throw refuse(m.raw, `it is a ${m.type === 'symlink' ? 'symbolic' : 'hard'} link to "${target}", which leaves the archive`);
      }
      via.push(m.name);
      name = next;
      continue;
    }
    throw refuse(m.raw, `it is a ${m.type === 'directory' ? 'directory' : 'special file (device, fifo)'}, not a file`);
  }
}

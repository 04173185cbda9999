/**
 * Export names as bytes. git-annex hands over the file names of a git tree,
 * which are bytes: old datasets hold Latin-1 names that are not valid UTF-8.
 * A URL path can carry any byte percent-encoded, so a server with paths
 * (WebDAV) stores such a name exactly; an object store whose names must be
 * UTF-8 (S3, OSF) needs a reversible encoding: utf8ExportName below.
 */
import { RemoteError } from '../../protocol/errors.js';
import type { WireName } from '../../protocol/wire.js';
import { pathProblem } from './config.js';

/** Bytes encodeURIComponent leaves as they are: encoding valid UTF-8 gives exactly its output. */
const KEPT = new Set(Buffer.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()", 'latin1'));

/** Percent-encodes one path segment byte by byte (any bytes, not only UTF-8). */
export function encodeSegmentBytes(segment: Buffer): string {
  let out = '';
  for (const b of segment) out += KEPT.has(b) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Percent-encodes each segment of a slash-separated path of bytes. */
export function encodePathBytes(path: Buffer): string {
  const segments: string[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      segments.push(encodeSegmentBytes(path.subarray(start, i)));
      start = i + 1;
    }
  }
  return segments.join('/');
}

/**
 * An export name checked for what could leave the remote's root ("..",
 * ".", empty segments, a leading "/"): these are ASCII, so the check holds
 * for names of any bytes. Returns the name's wire form (one char per byte).
 */
export function checkedExportName(name: WireName): string {
  const problem = pathProblem(name.wire, { trailingSlash: false });
  if (problem) throw new RemoteError(`cannot export "${name}": export names ${problem}`);
  return name.wire;
}

/** The folder of names that are not UTF-8, in stores whose names must be UTF-8. */
export const NON_UTF8_DIR = '.annexd-non-utf8';

/** "/" stays (the tree keeps its folders); printable ASCII but "%" stays; the rest is %XX. */
function encodeNonUtf8Bytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * The UTF-8 name under which a store whose names must be UTF-8 keeps an
 * export name (without the remote's prefix). A name that is valid UTF-8 is
 * kept as it is (as git-annex's own remotes keep it). A name that is not goes
 * under a reserved folder, NON_UTF8_DIR, with every byte outside printable
 * ASCII and every "%" percent-encoded: reversible, and no two names meet
 * (git-annex's built-in S3 remote replaces such bytes with U+FFFD, so
 * "caf\xe9" and "caf\xe8" land on one object). Export names inside
 * NON_UTF8_DIR are refused, so the folder holds only names put there by this
 * rule. `remote` names the remote in that refusal.
 */
export function utf8ExportName(name: WireName, remote: string): string {
  checkedExportName(name);
  const text = name.text;
  if (text !== undefined) {
    if (text === NON_UTF8_DIR || text.startsWith(`${NON_UTF8_DIR}/`)) {
      throw new RemoteError(`cannot export "${text}": ${remote} keeps names that are not UTF-8 in ${NON_UTF8_DIR}/; rename it, or export a subdirectory`);
    }
    return text;
  }
  return encodedExportName(name);
}

/**
 * Where a name would go under NON_UTF8_DIR, valid UTF-8 or not: for a folder,
 * where the files below it that are not UTF-8 went.
 */
export const encodedExportName = (name: WireName): string => `${NON_UTF8_DIR}/${encodeNonUtf8Bytes(name.bytes)}`;

/** The export name's bytes back from a name utf8ExportName gave (for listings and tests). */
export function exportNameBytes(objectName: string): Buffer {
  if (!objectName.startsWith(`${NON_UTF8_DIR}/`)) return Buffer.from(objectName, 'utf8');
  const encoded = objectName.slice(NON_UTF8_DIR.length + 1);
  const out: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === '%') {
      out.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(encoded.charCodeAt(i));
    }
  }
  return Buffer.from(out);
}

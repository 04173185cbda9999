/**
 * Export names as bytes. git-annex hands over the file names of a git tree,
 * which are bytes: old datasets hold Latin-1 names that are not valid UTF-8.
 * A URL path can carry any byte percent-encoded, so a server with paths
 * (WebDAV) stores such a name exactly; an object store whose names must be
 * UTF-8 (S3) needs a reversible encoding (see s3/names.ts).
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

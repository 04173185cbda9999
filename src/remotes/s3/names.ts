/**
 * Export names in S3. Object names must be UTF-8, and export names are bytes
 * (old datasets hold Latin-1 names). A name that is valid UTF-8 is stored as
 * it is, as git-annex's own S3 remote stores it. A name that is not goes under
 * a reserved folder, NON_UTF8_DIR, with every byte outside printable ASCII and
 * every "%" percent-encoded: reversible, and no two names meet (git-annex's
 * built-in remote replaces such bytes with U+FFFD, so "caf\xe9" and "caf\xe8"
 * land on one object). Export names inside NON_UTF8_DIR are refused, so the
 * folder holds only names put there by this rule.
 */
import { RemoteError } from '../../protocol/errors.js';
import type { WireName } from '../../protocol/wire.js';
import { checkedExportName } from '../core/export-names.js';

export const NON_UTF8_DIR = '.annexd-non-utf8';

/** "/" stays (the tree keeps its folders); printable ASCII but "%" stays; the rest is %XX. */
function encodeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** The object name (without the remote's prefix) of an export name. */
export function exportObjectName(name: WireName): string {
  checkedExportName(name);
  const text = name.text;
  if (text !== undefined) {
    if (text === NON_UTF8_DIR || text.startsWith(`${NON_UTF8_DIR}/`)) {
      throw new RemoteError(`cannot export "${text}": annexd-s3 keeps names that are not UTF-8 in ${NON_UTF8_DIR}/; rename it, or export a subdirectory`);
    }
    return text;
  }
  return `${NON_UTF8_DIR}/${encodeBytes(name.bytes)}`;
}

/** The export name's bytes back from an object name (for listings and tests). */
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

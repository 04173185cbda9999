/** Facts git-annex encodes in a key's name. */
import { createHash } from 'node:crypto';
import type { RequestContext } from '../../protocol/contract.js';

/** The key's fields between the backend name and "--": s (size), S (chunk size), C (chunk number), m (mtime). */
function fields(key: string): Map<string, number> {
  const head = key.split('--', 1)[0] ?? '';
  const out = new Map<string, number>();
  for (const f of head.split('-').slice(1)) {
    const m = /^([a-zA-Z])(\d+)$/.exec(f);
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * The size of the content a key names ("SHA256E-s1048576--…" → 1048576; for a
 * chunk key, that chunk's size), or undefined for keys without one (e.g. URL
 * keys from addurl --fast).
 */
export function keySize(key: string): number | undefined {
  const f = fields(key);
  const size = f.get('s');
  const chunkSize = f.get('S');
  const chunk = f.get('C');
  if (size === undefined || chunkSize === undefined || chunk === undefined) return size;
  return Math.max(0, Math.min(chunkSize, size - (chunk - 1) * chunkSize));
}

/**
 * The name git-annex gives a key's file in an object directory: "&", "%" and
 * ":" are escaped and "/" becomes "%", so any key is one path segment.
 */
export function keyFileName(key: string): string {
  return key.replace(/[&%:/]/g, (c) => ({ '&': '&a', '%': '&s', ':': '&c', '/': '%' })[c] ?? c);
}

/** What a server holds under a name: undefined when nothing; its size when the server tells it. */
export type Held = { size: number | undefined } | undefined;

/**
 * CHECKPRESENT's answer from what a server holds under a key's name. Something
 * of another size than the key records is not the key's content: some servers
 * keep the part of an upload that was cut off (s3rver writes a PUT straight to
 * the object), and calling that present would let git-annex drop the last good
 * copy. It counts as absent, so the next copy replaces it.
 */
export function holdsKey(key: string, held: Held, ctx: RequestContext): boolean {
  if (held === undefined) return false;
  const expected = keySize(key);
  if (held.size === undefined || expected === undefined || held.size === expected) return true;
  void ctx.annex.debug(`${key}: the server holds ${held.size} bytes under its name, not ${expected}: not its content (a cut upload?)`);
  return false;
}

/**
 * git-annex's DIRHASH-LOWER of a key ("381/82d/"), computed here: asking is a
 * round trip through git-annex for every request on a key, which under -J8
 * costs more than the MD5. As git-annex's hashDirLower with its two levels
 * (the protocol's DIRHASH-LOWER): the first six hex digits of the MD5 of the
 * key without its chunk fields (-S, -C), so a chunk lives beside its key.
 * Undefined for a key that is not printable ASCII, whose bytes on the wire
 * this string may not spell: ask git-annex then.
 */
export function dirhashLower(key: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(key)) return undefined;
  const sep = key.indexOf('--');
  if (sep < 0) return undefined;
  const [backend, ...rest] = key.slice(0, sep).split('-');
  const unchunked = [backend, ...rest.filter((f) => !/^[SC]\d+$/.test(f))].join('-') + key.slice(sep);
  const h = createHash('md5').update(unchunked).digest('hex');
  return `${h.slice(0, 3)}/${h.slice(3, 6)}/`;
}

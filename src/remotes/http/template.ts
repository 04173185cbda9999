/**
 * url= templates: where a key can be read when the server publishes a
 * git-annex object store (or any key-named layout) over plain HTTP. The
 * placeholders are DataLad's names with and without their "annex_" prefix.
 */
import type { RequestContext } from '../../protocol/contract.js';
import { keyFileName } from '../core/keys.js';

export type Placeholder = 'key' | 'dirhash' | 'dirhash_lower';

const NAMES: Record<string, Placeholder> = {
  key: 'key',
  dirhash: 'dirhash',
  dirhash_lower: 'dirhash_lower',
  annex_key: 'key',
  annex_dirhash: 'dirhash',
  annex_dirhash_lower: 'dirhash_lower',
};

/** Literal text and placeholders, in order. */
export interface UrlTemplate {
  readonly source: string;
  readonly parts: ReadonlyArray<string | { placeholder: Placeholder }>;
  /** The host the template points at (host:port), for credentials. */
  readonly host: string;
}

export function parseTemplate(raw: string): UrlTemplate {
  const parts: Array<string | { placeholder: Placeholder }> = [];
  const re = /\{([^{}]*)\}/g;
  let last = 0;
  for (let m = re.exec(raw); m; m = re.exec(raw)) {
    const name = NAMES[m[1] ?? ''];
    if (!name) {
      throw new Error(`has an unknown placeholder {${m[1]}}: use {key}, {dirhash} or {dirhash_lower}`);
    }
    parts.push(raw.slice(last, m.index), { placeholder: name });
    last = m.index + m[0].length;
  }
  parts.push(raw.slice(last));
  if (!parts.some((p) => typeof p !== 'string' && p.placeholder === 'key')) {
    throw new Error(`must contain {key}, or every key would map to the same URL: ${raw}`);
  }
  // A URL with placeholders filled by something harmless must be a valid http(s) URL.
  let url: URL;
  try {
    url = new URL(parts.map((p) => (typeof p === 'string' ? p : 'x')).join(''));
  } catch {
    throw new Error(`is not a URL template: "${raw}" (expected e.g. https://host/annex/objects/{dirhash_lower}{key}/{key})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username || url.password) throw new Error('must not contain a user name or password; use credential= instead');
  return { source: raw, parts, host: url.host };
}

/** Path segments are percent-encoded; hash directories keep their slashes. */
const encodeSegments = (path: string): string => path.split('/').map(encodeURIComponent).join('/');

/** The key's URL under the template; DIRHASH values come from git-annex so they match its layout. */
export async function expandTemplate(t: UrlTemplate, key: string, ctx: RequestContext): Promise<string> {
  const out: string[] = [];
  for (const p of t.parts) {
    if (typeof p === 'string') out.push(p);
    // As git-annex names the key's file, so a published object directory is addressed as stored.
    else if (p.placeholder === 'key') out.push(encodeURIComponent(keyFileName(key)));
    else if (p.placeholder === 'dirhash') out.push(encodeSegments(await ctx.annex.dirhash(key)));
    else out.push(encodeSegments(await ctx.annex.dirhashLower(key)));
  }
  return out.join('');
}

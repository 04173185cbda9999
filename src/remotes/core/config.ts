/**
 * Config schemas: one declaration per backend drives LISTCONFIGS (so
 * `initremote --whatelse` documents every key and unknown keys are refused)
 * and INITREMOTE/PREPARE validation with messages that name the fix.
 */
import { RemoteError } from '../../protocol/errors.js';
import { parseSize } from './sizes.js';

export class ConfigError extends RemoteError {}

export interface FieldSpec<T> {
  description: string;
  /** Parses the raw value ('' when unset). Throws a message on bad input. */
  parse(raw: string): T;
}

export type Schema = Record<string, FieldSpec<unknown>>;
export type ConfigOf<S extends Schema> = { [K in keyof S]: S[K] extends FieldSpec<infer T> ? T : never };

function spec<T>(description: string, parse: (raw: string) => T): FieldSpec<T> {
  return { description, parse };
}

/** A required text value. */
export function requiredText(description: string, example: string): FieldSpec<string> {
  return spec(description, (raw) => {
    if (!raw) throw new Error(`is required, e.g. ${example}`);
    return raw;
  });
}

export function optionalText(description: string): FieldSpec<string | undefined> {
  return spec(description, (raw) => raw || undefined);
}

export function textWithDefault(description: string, fallback: string): FieldSpec<string> {
  return spec(description, (raw) => raw || fallback);
}

/**
 * What is wrong with the path of a server URL (a WebDAV collection, an S3
 * endpoint), judged on the raw text:
 * new URL() quietly resolves "..", "." (also written %2e) and treats "\" as
 * "/", so "…/dav/../up2" would store in /up2. A query or fragment would be
 * dropped. Trailing slashes are fine (the value is kept without them).
 */
function urlPathProblem(raw: string): string | undefined {
  const rest = raw.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/\\?#]*/i, '');
  if (/[?#]/.test(rest)) return 'must not contain a query ("?…") or a fragment ("#…"): give the server\'s path only';
  const path = rest.replaceAll('\\', '/').replace(/%2e/gi, '.').replace(/\/+$/, '');
  const problem = pathProblem(path.replace(/^\//, ''));
  return problem && `has the path "${rest}", which ${problem}`;
}

/** An http(s) URL; the value is kept without a trailing slash. */
export function optionalHttpUrl(description: string): FieldSpec<string | undefined> {
  return spec(description, (raw) => {
    if (!raw) return undefined;
    // "localhost:9000" parses as a URL of scheme "localhost:"; "host:9000" without a scheme is a common slip.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
      throw new Error(`must start with http:// or https://: "${raw}" (e.g. http://${raw.replace(/^https?:?\/*/i, '')})`);
    }
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new Error(`is not a URL: "${raw}" (expected e.g. http://127.0.0.1:9000)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new Error(`must be an http:// or https:// URL, not ${u.protocol}`);
    }
    if (u.username || u.password) {
      throw new Error('must not contain a user name or password; use the credential settings instead');
    }
    const problem = urlPathProblem(raw);
    if (problem) throw new Error(problem);
    return raw.replace(/\/+$/, '');
  });
}

export function yesNo(description: string, fallback: boolean): FieldSpec<boolean> {
  return spec(description, (raw) => {
    const v = raw.toLowerCase();
    if (v === '') return fallback;
    if (['yes', 'true', '1', 'on'].includes(v)) return true;
    if (['no', 'false', '0', 'off'].includes(v)) return false;
    throw new Error(`must be yes or no, not "${raw}"`);
  });
}

export function optionalYesNo(description: string): FieldSpec<boolean | undefined> {
  const inner = yesNo(description, false);
  return spec(description, (raw) => (raw === '' ? undefined : inner.parse(raw)));
}

export function size(description: string, fallback: string, min = 0, max = Number.MAX_SAFE_INTEGER): FieldSpec<number> {
  return spec(description, (raw) => {
    const n = parseSize(raw || fallback);
    if (n === undefined) throw new Error(`is not a size: "${raw}" (expected e.g. 16MiB)`);
    if (n < min) throw new Error(`must be at least ${min} bytes`);
    if (n > max) throw new Error(`must be at most ${max} bytes`);
    return n;
  });
}

export function integer(description: string, fallback: number, min: number, max: number): FieldSpec<number> {
  return spec(description, (raw) => {
    if (raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw new Error(`must be a whole number, not "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}`);
    return n;
  });
}

/** Reads and validates every field; the first bad one fails with `name=value: problem`. */
export async function readConfig<S extends Schema>(
  schema: S,
  get: (name: string) => Promise<string>,
): Promise<ConfigOf<S>> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) {
    const raw = await get(name);
    try {
      out[name] = field.parse(raw);
    } catch (err) {
      const problem = err instanceof Error ? err.message : String(err);
      throw new ConfigError(`${name}= ${problem}`);
    }
  }
  return out as ConfigOf<S>;
}

/**
 * A problem with a slash-separated relative path (an S3 prefix, a WebDAV
 * collection path, an export name), or undefined when it is safe: a server
 * may resolve ".." and store outside the bucket or collection, and an empty
 * segment ("a//b", a leading "/") names something no server agrees on.
 */
export function pathProblem(path: string, { trailingSlash = true }: { trailingSlash?: boolean } = {}): string | undefined {
  if (path === '') return undefined;
  if (path.startsWith('/')) return `must not start with "/" (write "${path.replace(/^\/+/, '')}")`;
  const body = trailingSlash && path.endsWith('/') ? path.slice(0, -1) : path;
  const segments = body.split('/');
  if (segments.some((s) => s === '.' || s === '..')) return 'must not contain "." or ".." segments: they could leave the bucket or collection';
  if (segments.some((s) => s === '')) return `must not contain empty segments ("//")`;
  return undefined;
}

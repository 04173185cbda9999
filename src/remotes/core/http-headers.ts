/** Reading response headers the way every HTTP backend needs them (Node and undici both give string | string[]). */

export type Headers = Record<string, string | string[] | undefined>;

/** The first value of a header (names in lower case). */
export function headerValue(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Content-Length as a number; undefined when absent or malformed. */
export function contentLength(headers: Headers): number | undefined {
  const v = headerValue(headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

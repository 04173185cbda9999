/** Every setting of an annexd-webdav remote: drives LISTCONFIGS, --help and validation. */
import { integer, optionalHttpUrl, optionalText, pathProblem, type ConfigOf, type FieldSpec } from '../core/config.js';

/**
 * What is wrong with the path of a collection URL, judged on the raw text:
 * new URL() quietly resolves "..", "." (also written %2e) and treats "\" as
 * "/", so "…/dav/../up2" would store in /up2. A query or fragment would be
 * dropped. Trailing slashes are fine (the value is kept without them).
 */
function collectionPathProblem(raw: string): string | undefined {
  const rest = raw.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/\\?#]*/i, '');
  if (/[?#]/.test(rest)) return 'must not contain a query ("?…") or a fragment ("#…"): give the collection\'s path only';
  const path = rest.replaceAll('\\', '/').replace(/%2e/gi, '.').replace(/\/+$/, '');
  const problem = pathProblem(path.replace(/^\//, ''));
  return problem && `has the path "${rest}", which ${problem}`;
}

/** The collection URL is the one setting a WebDAV remote cannot do without. */
function requiredHttpUrl(description: string, example: string): FieldSpec<string> {
  const inner = optionalHttpUrl(description);
  return {
    description,
    parse(raw) {
      const url = inner.parse(raw);
      if (url === undefined) throw new Error(`is required, e.g. ${example}`);
      const problem = collectionPathProblem(raw);
      if (problem) throw new Error(problem);
      return url;
    },
  };
}

/** The collection below url= that holds uploads in progress (see dav.ts); never an export path. */
export const TMP_COLLECTION = '.annexd-tmp';

export const webdavSchema = {
  url: requiredHttpUrl('URL of the WebDAV collection to store in (created by initremote when missing)', 'url=https://dav.example.org/annex'),
  credential: optionalText('name of an annexd credential holding user and the password (annexd credentials set NAME user=…)'),
  retries: integer('retries of a failed request, with exponential backoff (default 5)', 5, 0, 20),
};

export type WebdavConfig = ConfigOf<typeof webdavSchema>;

/** The settings as the backend uses them. */
export interface WebdavSettings {
  /** The collection URL, without a trailing slash. */
  url: string;
  credential: string | undefined;
  retries: number;
}

export function webdavSettings(c: WebdavConfig): WebdavSettings {
  return { url: c.url, credential: c.credential, retries: c.retries };
}

/** Every setting of an annexd-webdav remote: drives LISTCONFIGS, --help and validation. */
import { integer, optionalHttpUrl, optionalText, type ConfigOf, type FieldSpec } from '../core/config.js';
import { parallelDownloadSchema, parallelDownloadSettings, type ParallelDownloadSettings } from '../core/parallel-get.js';

/** The collection URL is the one setting a WebDAV remote cannot do without. */
function requiredHttpUrl(description: string, example: string): FieldSpec<string> {
  const inner = optionalHttpUrl(description);
  return {
    description,
    parse(raw) {
      const url = inner.parse(raw);
      if (url === undefined) throw new Error(`is required, e.g. ${example}`);
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
  ...parallelDownloadSchema,
};

export type WebdavConfig = ConfigOf<typeof webdavSchema>;

/** The settings as the backend uses them. */
export interface WebdavSettings {
  /** The collection URL, without a trailing slash. */
  url: string;
  credential: string | undefined;
  retries: number;
  download: ParallelDownloadSettings;
}

export function webdavSettings(c: WebdavConfig): WebdavSettings {
  return { url: c.url, credential: c.credential, retries: c.retries, download: parallelDownloadSettings(c) };
}

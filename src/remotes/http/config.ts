/** Every setting of an annexd-http remote: drives LISTCONFIGS, --help and validation. */
import { integer, optionalText, type ConfigOf, type FieldSpec } from '../core/config.js';
import { parallelDownloadSchema, parallelDownloadSettings, type ParallelDownloadSettings } from '../core/parallel-get.js';
import { parseTemplate, type UrlTemplate } from './template.js';

function optionalRegex(description: string): FieldSpec<RegExp | undefined> {
  return {
    description,
    parse(raw) {
      if (!raw) return undefined;
      try {
        return new RegExp(raw);
      } catch (err) {
        throw new Error(`is not a valid regular expression: ${(err as Error).message}`);
      }
    },
  };
}

function optionalTemplate(description: string): FieldSpec<UrlTemplate | undefined> {
  return { description, parse: (raw) => (raw ? parseTemplate(raw) : undefined) };
}

export const httpSchema = {
  match: optionalRegex(
    'regular expression (JavaScript syntax) a URL must match for this remote to claim it, e.g. match=^https://data\\.example\\.org/ (default: every http and https URL)',
  ),
  url: optionalTemplate(
    'URL template to read keys by name, with {key}, {dirhash} and {dirhash_lower} (also {annex_key}, {annex_dirhash}, {annex_dirhash_lower}), e.g. url=https://host/repo/.git/annex/objects/{dirhash}{key}/{key}',
  ),
  credential: optionalText(
    'name of an annexd credential (user + password for Basic, or a token for Bearer) for the host of url=, or without url= for the hosts of claimed URLs',
  ),
  retries: integer('retries of a failed request, with exponential backoff (default 5)', 5, 0, 20),
  ...parallelDownloadSchema,
};

export type HttpConfig = ConfigOf<typeof httpSchema>;

/** The settings as the backend uses them. */
export interface HttpSettings {
  match: RegExp | undefined;
  template: UrlTemplate | undefined;
  credential: string | undefined;
  retries: number;
  download: ParallelDownloadSettings;
}

export function httpSettings(c: HttpConfig): HttpSettings {
  return { match: c.match, template: c.url, credential: c.credential, retries: c.retries, download: parallelDownloadSettings(c) };
}

/** Whether this remote handles a URL: http(s), and matching match= when set. */
export function claims(s: HttpSettings, url: string): boolean {
  if (!/^https?:\/\//i.test(url)) return false;
  return s.match ? s.match.test(url) : true;
}

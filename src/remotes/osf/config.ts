/** Every setting of an annexd-osf remote: drives LISTCONFIGS, --help and validation. */
import { RemoteError } from '../../protocol/errors.js';
import { integer, optionalHttpUrl, optionalText, type ConfigOf } from '../core/config.js';

export const DEFAULT_API = 'https://api.osf.io/v2/';
/**
 * Requests per second at most, by default: shared by every job of the process
 * (see budget.ts). 8 with bursts of 1 is at most 9 in any second, one under
 * OSF's burst limit (osf-api.md §3.2): bench/osf.mjs measured 200 x 100 KiB copy,
 * drop and get at 0.12 of osfclient's 1 request/s floor with no 429; at 5 the
 * copy took 0.24, at 10 the server's 10/s limit answered 429s and every job paused.
 */
export const DEFAULT_REQUEST_RATE = 8;

export const osfSchema = {
  node: optionalText('the OSF project or component to store in: its id, e.g. node=ab12c (from https://osf.io/ab12c/)'),
  project: optionalText('legacy name of node= (datalad-osf): the id or a URL ending in it'),
  api: optionalHttpUrl(`the OSF API (default ${DEFAULT_API}); for a self-hosted OSF, or annexd dev-server osf`),
  credential: optionalText('name of an annexd credential holding an OSF personal access token (annexd credentials set NAME realm=api.osf.io)'),
  retries: integer('retries of a failed request, with exponential backoff (default 5)', 5, 0, 20),
  requestrate: integer(`requests per second sent to OSF at most, by all jobs of all annexd processes on this machine together (default ${DEFAULT_REQUEST_RATE})`, DEFAULT_REQUEST_RATE, 1, 100),
};

export type OsfConfig = ConfigOf<typeof osfSchema>;

/** The settings as the backend uses them. */
export interface OsfSettings {
  node: string;
  /** The API base, with a trailing slash. */
  api: string;
  credential: string | undefined;
  retries: number;
  requestRate: number;
}

/** "ab12c", or "https://osf.io/ab12c/" (project=, as datalad-osf reads it: the last path segment). */
function nodeId(raw: string, setting: string): string {
  const id = raw.replace(/\/+$/, '').split('/').pop() ?? '';
  if (!/^[A-Za-z0-9]+$/.test(id)) throw new RemoteError(`${setting}= "${raw}" is not an OSF node id: give the id, e.g. node=ab12c (from https://osf.io/ab12c/)`);
  return id;
}

export function osfSettings(c: OsfConfig): OsfSettings {
  const node = c.node ? nodeId(c.node, 'node') : c.project ? nodeId(c.project, 'project') : undefined;
  if (!node) throw new RemoteError('node= is required: the id of the OSF project or component, e.g. node=ab12c (from https://osf.io/ab12c/)');
  return { node, api: c.api ? `${c.api}/` : DEFAULT_API, credential: c.credential, retries: c.retries, requestRate: c.requestrate };
}

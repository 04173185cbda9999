/**
 * create-sibling-webdav, as datalad-next's (datalad-compat.md §4.3): the same
 * arguments, defaults and modes, a storage sibling and a git sibling with
 * annex-ignore and publish-depends, served by annexd's annexd-webdav remote
 * and git-remote-datalad-annex. Different from datalad-next:
 *
 * - the storage sibling has autoenable=true, so clones enable it themselves;
 * - in the filetree modes the git deposit is not an export (git-remote-
 *   datalad-annex refuses to push to export-mode deposits, see the README):
 *   it is an annex-mode deposit in URL/.datalad-deposit, beside the tree;
 * - --credential names an annexd credential (user and the password), given to
 *   both siblings as credential=NAME; without it, annexd-webdav's chain.
 */
import { formatDataladAnnexUrl } from '../gitremote/url.js';
import {
  depositProblem,
  existingRecords,
  initStorage,
  openDataset,
  requireOwnStorageName,
  requireUsableName,
  type CreateSiblingBaseOptions,
  type CreateSiblingRecord,
  type CreateSiblingResult,
} from './create-sibling-common.js';
import { OrchestrationError } from './errors.js';
import { configureSibling } from './siblings.js';

export type CreateSiblingWebdavRecord = CreateSiblingRecord<'create-sibling-webdav'>;
export type WebdavResultRecord = CreateSiblingResult<'create-sibling-webdav'>;

export const WEBDAV_MODES = ['annex', 'filetree', 'annex-only', 'filetree-only', 'git-only'] as const;
export type WebdavMode = (typeof WEBDAV_MODES)[number];
export const WEBDAV_EXISTING = ['skip', 'error', 'reconfigure'] as const;
export type WebdavExisting = (typeof WEBDAV_EXISTING)[number];

/** The collection below URL that holds the git deposit in the filetree modes. */
export const DEPOSIT_COLLECTION = '.datalad-deposit';

export interface CreateSiblingWebdavOptions extends CreateSiblingBaseOptions {
  /** The WebDAV collection: http(s), no query or fragment. */
  url: string;
  /** The git sibling; default the URL's host name. */
  name?: string;
  /** The storage sibling; default NAME-storage. */
  storageName?: string;
  mode?: WebdavMode;
  existing?: WebdavExisting;
  /** An annexd credential (user and the password), else annexd-webdav's chain (WEBDAV_USERNAME/WEBDAV_PASSWORD, …). */
  credential?: string;
  /** Told of what is allowed but unwise (an http: URL). */
  warn?: (message: string) => void;
}

/** The URL as datalad-next takes it: http(s), no query, no fragment; without a trailing slash. */
export function checkWebdavUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OrchestrationError(`"${raw}" is not a URL: give the WebDAV collection, e.g. https://dav.example.org/datasets/study1`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OrchestrationError(`${raw}: only http:// and https:// WebDAV URLs are supported, not ${url.protocol}`);
  if (url.search || raw.includes('?')) throw new OrchestrationError(`${raw}: the URL must not have a query (?…)`);
  if (url.hash || raw.includes('#')) throw new OrchestrationError(`${raw}: the URL must not have a fragment (#…)`);
  if (url.username || url.password) throw new OrchestrationError(`the URL must not hold a user or password (give --credential NAME, or WEBDAV_USERNAME and WEBDAV_PASSWORD)`);
  return url;
}

/** Creates the WebDAV siblings of a dataset; yields DataLad-style result records (the caller renders them). */
export async function* createSiblingWebdav(o: CreateSiblingWebdavOptions): AsyncGenerator<WebdavResultRecord> {
  const env = o.env ?? process.env;
  const parsed = checkWebdavUrl(o.url);
  const url = o.url.replace(/\/+$/, '');
  const name = o.name ?? parsed.hostname;
  const storageName = o.storageName ?? `${name}-storage`;
  const mode = o.mode ?? 'annex';
  const existing = o.existing ?? 'error';
  requireUsableName(name, o.name === undefined ? `the URL's host name` : 'the sibling name');
  requireUsableName(storageName, 'the storage sibling name');
  requireOwnStorageName(name, storageName);
  if (parsed.protocol === 'http:') o.warn?.(`${url} is http://, not https://: the password and the data travel unencrypted`);

  const { top, base, noAnnex } = await openDataset(o.dataset, 'create-sibling-webdav', env);
  if (noAnnex) {
    yield noAnnex;
    return;
  }
  const withStorage = mode !== 'git-only';
  const withGit = mode !== 'annex-only' && mode !== 'filetree-only';
  const filetree = mode === 'filetree' || mode === 'filetree-only';
  const wanted = [...(withGit ? [name] : []), ...(withStorage ? [storageName] : [])];
  const { taken, records: conflicts } = await existingRecords(top, base, wanted, existing, env);
  if (conflicts.length > 0) {
    yield* conflicts;
    return;
  }

  const credential = o.credential ? [`credential=${o.credential}`] : [];
  const depositUrl = filetree ? `${url}/${DEPOSIT_COLLECTION}` : url;
  const gitUrl = formatDataladAnnexUrl(['type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=${depositUrl}`, ...credential]);

  if (withStorage) {
    // Reconfiguring takes the new URL and credential; git-annex itself refuses to change exporttree.
    const reconfigure = taken.has(storageName);
    const params = reconfigure
      ? [`url=${url}`, ...credential]
      : ['type=external', 'externaltype=annexd-webdav', `url=${url}`, 'encryption=none', 'autoenable=true', ...credential, ...(filetree ? ['exporttree=yes'] : [])];
    const why = await initStorage(top, storageName, params, env, reconfigure);
    if (why) {
      yield { ...base, status: 'error', name: storageName, url, message: `${why}; ${reconfigure ? 'the sibling was left as it was' : 'nothing was configured'}` };
      return;
    }
    yield { ...base, status: 'ok', name: storageName, url, ...(reconfigure ? { message: 'reconfigured' } : {}) };
  } else {
    // No storage sibling checks the server and credentials: the helper does.
    const problem = await depositProblem(gitUrl, env, o.signal);
    if (problem) {
      yield { ...base, status: 'error', name, url: depositUrl, message: `the deposit cannot be reached: ${problem}; nothing was configured` };
      return;
    }
  }
  if (!withGit) return;
  yield await configureSibling(top, {
    name,
    url: gitUrl,
    annexIgnore: true,
    publishDepends: withStorage ? [storageName] : undefined,
    signal: o.signal,
  });
}

/**
 * create-sibling-s3 (DataLad has none, datalad-compat.md §5): a dataset
 * published to one S3 bucket, content and history, in the shape of
 * DataLad's other create-sibling-* commands (§1.6):
 *
 * 1. unless --mode gitonly: the storage sibling, `git annex initremote
 *    NAME-storage type=external externaltype=annexd-s3 encryption=none
 *    autoenable=true bucket=B …` (+ exporttree=yes in export mode); annexd-s3
 *    creates a missing bucket there and checks the credentials;
 * 2. the git sibling NAME, `datalad-annex::?type=external&externaltype=annexd-s3&…`,
 *    whose deposit (XDLRA--refs, XDLRA--repo-export) is in the same bucket under
 *    the prefix `<P>.datalad-deposit/`, apart from the content's keys (and from an
 *    exported tree), with annex-ignore and publish-depends on NAME-storage.
 */
import { formatDataladAnnexUrl } from '../gitremote/url.js';
import { s3Schema } from '../remotes/s3/config.js';
import {
  depositProblem,
  existingRecords,
  initStorage,
  openDataset,
  requireUsableName,
  type CreateSiblingBaseOptions,
  type CreateSiblingRecord,
  type CreateSiblingResult,
} from './create-sibling-common.js';
import { OrchestrationError } from './errors.js';
import { configureSibling } from './siblings.js';

export type CreateSiblingS3Record = CreateSiblingRecord<'create-sibling-s3'>;
export type S3ResultRecord = CreateSiblingResult<'create-sibling-s3'>;

export const S3_MODES = ['annex', 'export', 'gitonly'] as const;
export type S3Mode = (typeof S3_MODES)[number];

/** The folder (below --prefix) that holds the git deposit. */
export const DEPOSIT_FOLDER = '.datalad-deposit/';

export interface CreateSiblingS3Options extends CreateSiblingBaseOptions {
  /** The git sibling; the storage sibling is NAME-storage. */
  name: string;
  bucket: string;
  endpoint?: string;
  prefix?: string;
  mode?: S3Mode;
  publicUrl?: string;
  existing?: 'skip' | 'error';
  /** An annexd credential (key_id and secret), else the usual annexd-s3 chain (AWS_* variables, …). */
  credential?: string;
}

/** A setting checked as annexd-s3 checks it at initremote, so a bad one is refused before anything is made. */
function checked(option: string, value: string | undefined, field: { parse(raw: string): unknown }): void {
  if (value === undefined) return;
  try {
    field.parse(value);
  } catch (err) {
    throw new OrchestrationError(`--${option} "${value}": ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The deposit's prefix: its own folder below the content's prefix. */
export function depositPrefix(prefix: string | undefined): string {
  if (!prefix) return DEPOSIT_FOLDER;
  return `${prefix}${prefix.endsWith('/') ? '' : '/'}${DEPOSIT_FOLDER}`;
}

/** Creates the S3 siblings of a dataset; yields DataLad-style result records (the caller renders them). */
export async function* createSiblingS3(o: CreateSiblingS3Options): AsyncGenerator<S3ResultRecord> {
  const env = o.env ?? process.env;
  const mode = o.mode ?? 'annex';
  const storageName = `${o.name}-storage`;
  requireUsableName(o.name, 'the sibling name');
  checked('bucket', o.bucket, s3Schema.bucket);
  checked('endpoint', o.endpoint, s3Schema.endpoint);
  checked('prefix', o.prefix, s3Schema.prefix);
  checked('public-url', o.publicUrl, s3Schema.publicurl);

  const { top, base, noAnnex } = await openDataset(o.dataset, 'create-sibling-s3', env);
  if (noAnnex) {
    yield noAnnex;
    return;
  }
  const wanted = mode === 'gitonly' ? [o.name] : [o.name, storageName];
  const { records: conflicts } = await existingRecords(top, base, wanted, o.existing ?? 'error', env);
  if (conflicts.length > 0) {
    yield* conflicts;
    return;
  }

  const common = [`bucket=${o.bucket}`];
  if (o.endpoint) common.push(`endpoint=${o.endpoint}`);
  if (o.publicUrl) common.push(`publicurl=${o.publicUrl}`);
  if (o.credential) common.push(`credential=${o.credential}`);
  const where = (prefix: string | undefined) => `s3://${o.bucket}/${prefix ?? ''}`;

  const depositParams = ['type=external', 'externaltype=annexd-s3', 'encryption=none', ...common, `prefix=${depositPrefix(o.prefix)}`];
  const url = formatDataladAnnexUrl(depositParams);
  if (mode === 'gitonly') {
    // No storage sibling checks the bucket and credentials: the helper does (and makes a missing bucket).
    const problem = await depositProblem(url, env, o.signal);
    if (problem) {
      yield { ...base, status: 'error', name: o.name, url: where(depositPrefix(o.prefix)), message: `the deposit cannot be reached: ${problem}; nothing was configured` };
      return;
    }
  } else {
    const init = ['type=external', 'externaltype=annexd-s3', 'encryption=none', 'autoenable=true', ...common];
    if (o.prefix) init.push(`prefix=${o.prefix}`);
    if (mode === 'export') init.push('exporttree=yes');
    const why = await initStorage(top, storageName, init, env);
    if (why) {
      yield { ...base, status: 'error', name: storageName, url: where(o.prefix), message: `${why}; nothing was configured` };
      return;
    }
    yield { ...base, status: 'ok', name: storageName, url: where(o.prefix) };
  }
  yield await configureSibling(top, {
    name: o.name,
    url,
    annexIgnore: true,
    publishDepends: mode === 'gitonly' ? undefined : [storageName],
    signal: o.signal,
  });
}

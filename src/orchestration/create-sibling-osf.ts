/**
 * create-sibling-osf, as datalad-osf does it (datalad-compat.md §3.4), with
 * the same options, defaults, config and result records, so a dataset set up
 * by either is pushed and cloned by both:
 *
 * 1. an OSF project is created through the API (title, category, tags with
 *    "DataLad dataset" and the dataset id, description, public or not);
 * 2. unless --mode gitonly: the storage sibling, `git annex initremote
 *    <storage> type=external externaltype=osf encryption=none
 *    autoenable=true node=<id>` (+ exporttree=yes in export modes), served
 *    by annexd's drop-in git-annex-remote-osf;
 * 3. unless --mode exportonly: the git sibling `osf://<id>`, with
 *    annex-ignore and publish-depends on the storage sibling (not for
 *    gitonly), served by the git remote helper git-remote-osf.
 *
 * Unlike datalad-osf, --existing skip really skips (datalad-osf creates a
 * second project), and a project whose storage sibling could not be set up
 * is deleted again, so a failed run leaves nothing behind on OSF.
 */
import { basename } from 'node:path';
import { messageOf } from '../protocol/errors.js';
import { DEFAULT_API } from '../remotes/osf/config.js';
import { resolveOsfToken, tokenHelp } from '../remotes/osf/credentials.js';
import { describeOsfError } from '../remotes/osf/errors.js';
import { createNode, deleteNode, openOsf, outsideAnnex, updateNode, apiBase, type NodeCategory, type OsfSession } from '../remotes/osf/nodes.js';
import { formatOsfUrl } from '../gitremote/url.js';
import { existingRecords, gitOrFail, gitWithBin as git, initStorage, openDataset, requireOwnStorageName, type CreateSiblingBaseOptions, type CreateSiblingRecord, type CreateSiblingResult } from './create-sibling-common.js';
import { OrchestrationError } from './errors.js';
import { configureSibling } from './siblings.js';

/** The records of create-sibling-osf: its own, and the git sibling's configure-sibling record. */
export type CreateSiblingOsfRecord = CreateSiblingRecord<'create-sibling-osf'>;
export type ResultRecord = CreateSiblingResult<'create-sibling-osf'>;

export const OSF_MODES = ['annex', 'export', 'exportonly', 'gitonly'] as const;
export type OsfMode = (typeof OSF_MODES)[number];
export const TRUST_LEVELS = ['trust', 'semitrust', 'untrust'] as const;
export type TrustLevel = (typeof TRUST_LEVELS)[number];

export interface CreateSiblingOsfOptions extends CreateSiblingBaseOptions {
  title?: string;
  /** The git sibling; default "osf". */
  name?: string;
  /** The storage sibling; default "<name>-storage". */
  storageName?: string;
  mode?: OsfMode;
  existing?: 'skip' | 'error';
  trustLevel?: TrustLevel;
  tags?: string[];
  public?: boolean;
  category?: NodeCategory;
  description?: string;
  /** The OSF API; default https://api.osf.io/v2/ (a self-hosted OSF, or annexd dev-server osf). */
  api?: string;
  /** An annexd (or DataLad) credential holding the token, else the usual chain (OSF_TOKEN, …). */
  credential?: string;
}

export const DEFAULT_DESCRIPTION =
  'This component was built from a DataLad dataset using the datalad-osf extension (https://github.com/datalad/datalad-osf).';
const CLONE_HINT =
  " With this extension installed, this component can be git or datalad cloned from a 'osf://ID' URL, where 'ID' is the OSF node ID that shown in the OSF HTTP URL, e.g. https://osf.io/q8xnk can be cloned from osf://q8xnk. ";

/** Creates the OSF siblings of a dataset; yields DataLad-style result records (the caller renders them). */
export async function* createSiblingOsf(o: CreateSiblingOsfOptions): AsyncGenerator<ResultRecord> {
  const env = o.env ?? process.env;
  const name = o.name ?? 'osf';
  const storageName = o.storageName ?? `${name}-storage`;
  const mode = o.mode ?? 'annex';
  const existing = o.existing ?? 'error';
  const api = apiBase(o.api ?? DEFAULT_API);
  const { top, base, noAnnex } = await openDataset(o.dataset, 'create-sibling-osf', env);
  if (noAnnex) {
    yield noAnnex;
    return;
  }
  requireOwnStorageName(name, storageName);
  const wanted = mode === 'gitonly' ? [name] : mode === 'exportonly' ? [storageName] : [name, storageName];
  const { records: conflicts } = await existingRecords(top, base, wanted, existing, env);
  if (conflicts.length > 0) {
    yield* conflicts;
    return;
  }

  const settings = { api, credential: o.credential };
  const credential = await resolveOsfToken(outsideAnnex(o.signal), settings, env, 'outside-annex');
  if (!credential) throw new OrchestrationError(`no OSF token: ${tokenHelp(settings)}`);

  const datasetId = (await git(top, ['config', '-f', '.datalad/config', '--get', 'datalad.dataset.id'], env)).stdout.trim();
  const tags = [...(o.tags ?? [])];
  if (!tags.includes('DataLad dataset')) tags.push('DataLad dataset');
  if (datasetId && !tags.includes(datasetId)) tags.push(datasetId);
  let description = o.description || DEFAULT_DESCRIPTION + (mode === 'exportonly' ? '' : CLONE_HINT);

  const osf = await openOsf(credential, api, o.signal);
  const fail = (err: unknown, what: string): OrchestrationError =>
    new OrchestrationError(describeOsfError(err, what, { node: '(new project)', api, credential: o.credential, retries: 0, requestRate: 0 }), { cause: err });
  try {
    let node: { id: string; html: string };
    try {
      node = await createNode(osf, { title: o.title ?? basename(top), category: o.category ?? 'data', public: o.public ?? false, tags, description });
    } catch (err) {
      throw fail(err, 'creating the OSF project');
    }

    if (mode !== 'gitonly') {
      const init = ['encryption=none', 'type=external', 'externaltype=osf', 'autoenable=true', `node=${node.id}`];
      if (api !== DEFAULT_API) init.push(`api=${api}`);
      if (o.credential) init.push(`credential=${o.credential}`);
      if (mode === 'export' || mode === 'exportonly') init.push('exporttree=yes');
      const why = await initStorage(top, storageName, init, env);
      if (why) {
        const removed = await rollback(osf, node.id);
        yield { ...base, status: 'error', url: node.html, id: node.id, name: storageName, message: `${why}; ${removed}` };
        return;
      }
      // Asked for explicitly: git-annex wants --force to trust a repository.
      if (o.trustLevel) await gitOrFail(top, ['annex', o.trustLevel, ...(o.trustLevel === 'trust' ? ['--force'] : []), storageName], env);
      yield { ...base, status: 'ok', url: node.html, id: node.id, name: storageName };
    }
    if (mode === 'exportonly') return;

    description += `This particular project can be cloned using 'datalad clone osf://${node.id}'`;
    try {
      await updateNode(osf, node.id, { description });
    } catch (err) {
      throw fail(err, `updating the description of OSF project ${node.id}`);
    }
    // configure, not add, as datalad-osf: it also takes a name left half-configured by a failed run.
    yield await configureSibling(top, {
      name,
      url: formatOsfUrl(node.id, api, DEFAULT_API),
      annexIgnore: true,
      publishDepends: mode === 'gitonly' ? undefined : [storageName],
      signal: o.signal,
    });
  } finally {
    await osf.close();
  }
}

/** Deletes the project this run created; says what happened, for the error record. */
async function rollback(osf: OsfSession, id: string): Promise<string> {
  try {
    await deleteNode(osf, id);
    return `the OSF project ${id} it was for was deleted again`;
  } catch (err) {
    return `the OSF project ${id} it was for could not be deleted (${messageOf(err)}): delete it at its page`;
  }
}

/**
 * OSF projects (nodes) and accounts, for annexd commands outside any
 * git-annex run: who a token belongs to (users/me/), and creating, updating
 * and deleting the project a dataset is published to (create-sibling-osf), as
 * datalad-osf does it through the API v2 (POST nodes/, PATCH and DELETE
 * nodes/ID/). Requests go through the same client as the remote's (request
 * budget, 429 pauses, token only to the API's origin).
 */
import type { AnnexApi, RequestContext } from '../../protocol/contract.js';
import type { Credential } from '../core/credentials.js';
import { OsfClient, type JsonValue } from './client.js';
import { DEFAULT_API, DEFAULT_REQUEST_RATE } from './config.js';
import { NotOsfError } from './errors.js';

/** What a request outside git-annex may send it: nothing (there is no git-annex to tell). */
const NO_ANNEX = { debug: async () => undefined, info: async () => undefined } as Pick<AnnexApi, 'debug' | 'info'>;

/** A client and request context for one command's worth of API calls. */
export interface OsfSession {
  readonly api: string;
  readonly client: OsfClient;
  readonly ctx: RequestContext;
  close(): Promise<void>;
}

/** The API base with its trailing slash. */
export const apiBase = (api: string = DEFAULT_API): string => (api.endsWith('/') ? api : `${api}/`);

/** A request context outside git-annex: no annex to ask or tell, cancelled by `signal` (default: after a minute). */
export const outsideAnnex = (signal?: AbortSignal): RequestContext => ({ annex: NO_ANNEX as AnnexApi, signal: signal ?? AbortSignal.timeout(60_000) });

export async function openOsf(credential: Credential | undefined, api: string = DEFAULT_API, signal?: AbortSignal): Promise<OsfSession> {
  const base = apiBase(api);
  const client = await OsfClient.connect(base, credential, DEFAULT_REQUEST_RATE);
  return { api: base, client, ctx: outsideAnnex(signal), close: () => client.close() };
}

/** The categories OSF accepts for a project (what datalad-osf offers too). */
export const NODE_CATEGORIES = [
  'analysis',
  'communication',
  'data',
  'hypothesis',
  'instrumentation',
  'methods and measures',
  'procedure',
  'project',
  'software',
  'other',
] as const;
export type NodeCategory = (typeof NODE_CATEGORIES)[number];

export interface NodeAttributes {
  title: string;
  category: NodeCategory;
  public: boolean;
  tags: string[];
  description: string;
}

export interface CreatedNode {
  id: string;
  /** The project's page, e.g. https://osf.io/ab12c/ */
  html: string;
}

type NodeDocument = { data?: { id?: unknown; type?: unknown; links?: { html?: unknown } } };

/** Creates a project (or, with `parent`, a component of that project). */
export async function createNode(osf: OsfSession, attributes: NodeAttributes, parent?: string): Promise<CreatedNode> {
  const url = parent ? `${osf.api}nodes/${encodeURIComponent(parent)}/children/` : `${osf.api}nodes/`;
  const { body } = await osf.client.json('POST', url, osf.ctx, [201, 200], jsonBody({ data: { type: 'nodes', attributes: { ...attributes } } }));
  const data = (body as NodeDocument).data;
  if (data?.type !== 'nodes' || typeof data.id !== 'string' || !/^[A-Za-z0-9]+$/.test(data.id)) {
    throw new NotOsfError(`POST ${url} did not answer with the new node`);
  }
  const html = typeof data.links?.html === 'string' ? data.links.html : `${osf.api}nodes/${data.id}/`;
  return { id: data.id, html };
}

export async function updateNode(osf: OsfSession, id: string, attributes: Partial<NodeAttributes>): Promise<void> {
  await osf.client.json('PATCH', `${osf.api}nodes/${encodeURIComponent(id)}/`, osf.ctx, [200], jsonBody({ data: { type: 'nodes', id, attributes } }));
}

export async function deleteNode(osf: OsfSession, id: string): Promise<void> {
  const url = `${osf.api}nodes/${encodeURIComponent(id)}/`;
  const res = await osf.client.request('DELETE', url, osf.ctx);
  await res.body.dump();
  if (res.statusCode !== 204 && res.statusCode !== 200 && res.statusCode !== 404 && res.statusCode !== 410) throw await osf.client.failure(res, 'DELETE', url);
}

/** The account a session's credential belongs to: its name (and id), or undefined for an anonymous session. */
export async function currentUser(osf: OsfSession): Promise<{ id: string; name: string | undefined }> {
  const { body } = await osf.client.json('GET', `${osf.api}users/me/`, osf.ctx, [200]);
  const data = (body as { data?: { id?: unknown; type?: unknown; attributes?: { full_name?: unknown } } }).data;
  if (data?.type !== 'users' || typeof data.id !== 'string') throw new NotOsfError('users/me/ answered without a user');
  return { id: data.id, name: typeof data.attributes?.full_name === 'string' ? data.attributes.full_name : undefined };
}

function jsonBody(doc: JsonValue | Record<string, unknown>): { headers: Record<string, string>; body: () => string } {
  const text = JSON.stringify(doc);
  return { headers: { 'content-type': 'application/vnd.api+json' }, body: () => text };
}

/**
 * A dataset's siblings: its git remotes and git-annex special remotes, with
 * what push needs of each, and adding, configuring and removing them with
 * exactly the configuration keys `datalad siblings` writes
 * (datalad/distribution/siblings.py, _configure_remote):
 *
 * - remote.NAME.url (git remote add), remote.NAME.fetch
 *   (+refs/heads/*:refs/remotes/NAME/* when missing), remote.NAME.pushurl;
 * - remote.NAME.datalad-publish-depends: every value unset (local scope),
 *   then one `git config --add` per dependency, in order;
 * - remote.NAME.push (--publish-by-default), reset the same way;
 * - git annex wanted|required|group|groupwanted NAME, git annex describe;
 * - `git annex enableremote NAME` unless remote.NAME.annex-ignore is set
 *   (which also learns a git remote's annex UUID).
 *
 * Unlike DataLad, nothing is written when a dependency is unknown or would
 * make a cycle: the whole request is checked first.
 */
import { readRemoteLog } from '../remotes/core/repo-settings.js';
import { OrchestrationError } from './errors.js';
import { git, gitOk, firstErrorLine, GitConfig } from './git.js';
import { cycleIfDepends, dependencyGraph, type DependencyGraph } from './graph.js';

export interface Sibling {
  name: string;
  /** remote.NAME.url; undefined for a special remote. */
  url?: string;
  /** remote.NAME.pushurl (the URL pushes go to), when set. */
  pushurl?: string;
  /** remote.NAME.annex-uuid, once git-annex knows it. */
  annexUuid?: string;
  /** remote.NAME.annex-ignore: git-annex (and push) send no content there. */
  annexIgnore: boolean;
  /** `git annex wanted NAME` (preferred content), when set and asked for. */
  wanted?: string;
  /** Every value of remote.NAME.datalad-publish-depends, each split on whitespace (as datalad-next does), in order, without repeats. */
  publishDepends: string[];
  /** A special remote without a git URL: push sends it content only. */
  special: boolean;
  /** The special remote's settings in remote.log (type, externaltype, exporttree, …), when it has any. */
  annexConfig?: Readonly<Record<string, string>>;
  /** exporttree=yes: push runs `git annex export`, not copy. */
  exportTree: boolean;
  /** Every remote.NAME.* key (variable names lower case) and all its values. */
  config: Readonly<Record<string, readonly string[]>>;
}

export interface ListSiblingsOptions {
  /** Also ask git-annex for each remote's preferred content (one `git annex wanted` per remote with a UUID). Default true. */
  wanted?: boolean;
  signal?: AbortSignal;
}

/** Splits publish-depends values on whitespace, keeping the first of repeats. */
export function splitDepends(values: readonly string[]): string[] {
  return [...new Set(values.flatMap((v) => v.split(/\s+/).filter(Boolean)))];
}

/** Whether `path` is a git repository with a work tree or a bare one; names what is wrong when not. */
async function requireRepository(ds: string, signal?: AbortSignal): Promise<void> {
  const r = await git(ds, ['rev-parse', '--git-dir'], { signal });
  if (r.code !== 0) throw new OrchestrationError(`${ds} is not a dataset (not a git repository): ${firstErrorLine(r)}`);
}

/** The siblings as read from one configuration snapshot (no git-annex calls except for `wanted`). */
export async function siblingsFromConfig(ds: string, config: GitConfig, options: ListSiblingsOptions = {}): Promise<Sibling[]> {
  const gitDir = (await gitOk(ds, ['rev-parse', '--absolute-git-dir'], { signal: options.signal })).stdout.trim();
  const remoteLog = await readRemoteLog(gitDir).catch(() => new Map<string, Record<string, string>>());
  const siblings = config.remoteNames().map((name): Sibling => {
    const section = config.remoteSection(name);
    const last = (k: string): string | undefined => section.get(k)?.at(-1);
    const url = last('url');
    const annexUuid = last('annex-uuid');
    const annexConfig = annexUuid ? remoteLog.get(annexUuid) : undefined;
    // DataLad's rule (annexrepo.py get_special_remotes / _is_special): no URL, and some annex-* option besides uuid/ignore.
    const special = url === undefined && [...section.keys()].some((k) => k.startsWith('annex-') && k !== 'annex-uuid' && k !== 'annex-ignore');
    const sibling: Sibling = {
      name,
      annexIgnore: config.bool(`remote.${name}.annex-ignore`),
      publishDepends: splitDepends(section.get('datalad-publish-depends') ?? []),
      special,
      exportTree: annexConfig?.exporttree === 'yes',
      config: Object.fromEntries(section),
    };
    if (url !== undefined) sibling.url = url;
    const pushurl = last('pushurl');
    if (pushurl !== undefined) sibling.pushurl = pushurl;
    if (annexUuid) sibling.annexUuid = annexUuid;
    if (annexConfig) sibling.annexConfig = annexConfig;
    return sibling;
  });
  if (options.wanted ?? true) {
    await Promise.all(
      siblings
        .filter((s) => s.annexUuid && !s.annexIgnore)
        .map(async (s) => {
          const r = await git(ds, ['annex', 'wanted', s.name], { signal: options.signal });
          const wanted = r.code === 0 ? r.stdout.trim() : '';
          if (wanted) s.wanted = wanted;
        }),
    );
  }
  return siblings;
}

/** Every sibling of the dataset at `ds` (git remotes and special remotes), in the order git lists them. */
export async function listSiblings(ds: string, options: ListSiblingsOptions = {}): Promise<Sibling[]> {
  await requireRepository(ds, options.signal);
  return siblingsFromConfig(ds, await GitConfig.read(ds, options.signal), options);
}

/** The publication-dependency graph of the dataset's siblings. */
export async function readDependencyGraph(ds: string, signal?: AbortSignal): Promise<Map<string, string[]>> {
  return dependencyGraph(await listSiblings(ds, { wanted: false, signal }));
}

/** What add and configure may set; undefined leaves a setting as it is. */
export interface SiblingSettings {
  url?: string;
  pushurl?: string;
  /** Replaces every remote.NAME.datalad-publish-depends value (each entry may hold several names separated by whitespace). [] removes them all. */
  publishDepends?: readonly string[];
  /** Replaces remote.NAME.push. */
  publishByDefault?: readonly string[];
  annexWanted?: string;
  annexRequired?: string;
  annexGroup?: string;
  annexGroupwanted?: string;
  /** git annex describe NAME TEXT. */
  description?: string;
  /**
   * remote.NAME.annex-ignore: true for a git sibling whose content goes to a
   * storage sibling instead (as DataLad's create-sibling-* set it); then no
   * enableremote is tried.
   */
  annexIgnore?: boolean;
  signal?: AbortSignal;
}

export interface AddSiblingOptions extends SiblingSettings {
  name: string;
  url: string;
}

export interface ConfigureSiblingOptions extends SiblingSettings {
  name: string;
}

/** A DataLad-shaped result record of the siblings commands. */
export interface SiblingRecord {
  action: 'add-sibling' | 'configure-sibling' | 'remove-sibling' | 'query-sibling';
  status: 'ok' | 'notneeded' | 'impossible' | 'error';
  path: string;
  type: 'sibling';
  name: string;
  message?: string;
  url?: string;
  pushurl?: string;
  'annex-uuid'?: string;
  'annex-ignore'?: boolean;
  'annex-wanted'?: string;
  'annex-type'?: string;
  'annex-externaltype'?: string;
  'annex-exporttree'?: string;
  /** All dependencies (DataLad reports the raw config value; the split list is what push follows). */
  'datalad-publish-depends'?: string[];
}

/** The query-sibling record of one sibling, with DataLad's field names. */
export function siblingRecord(ds: string, s: Sibling, action: SiblingRecord['action'] = 'query-sibling'): SiblingRecord {
  const r: SiblingRecord = { action, status: 'ok', path: ds, type: 'sibling', name: s.name };
  if (s.url !== undefined) r.url = s.url;
  if (s.pushurl !== undefined) r.pushurl = s.pushurl;
  if (s.annexUuid) r['annex-uuid'] = s.annexUuid;
  if (s.annexIgnore) r['annex-ignore'] = true;
  if (s.wanted) r['annex-wanted'] = s.wanted;
  if (s.annexConfig?.type) r['annex-type'] = s.annexConfig.type;
  if (s.annexConfig?.externaltype) r['annex-externaltype'] = s.annexConfig.externaltype;
  if (s.annexConfig?.exporttree) r['annex-exporttree'] = s.annexConfig.exporttree;
  if (s.publishDepends.length) r['datalad-publish-depends'] = s.publishDepends;
  return r;
}

/** Checks dependencies before anything is written: each a known remote, none making a cycle. */
function checkDepends(graph: DependencyGraph, known: readonly string[], name: string, values: readonly string[]): string[] {
  const deps = splitDepends(values);
  const unknown = deps.filter((d) => !known.includes(d));
  if (unknown.length) {
    // DataLad's wording (siblings.py), with what is known added.
    throw new OrchestrationError(
      `unknown sibling(s) specified as publication dependency: ${unknown.join(', ')} (known: ${known.filter((k) => k !== name).join(', ') || 'none'})`,
    );
  }
  if (deps.includes(name)) throw new OrchestrationError(`sibling "${name}" cannot depend on itself`);
  const cycle = cycleIfDepends(graph, name, deps);
  if (cycle) {
    throw new OrchestrationError(`refusing publication dependency of "${name}" on ${deps.map((d) => `"${d}"`).join(', ')}: it would make a cycle ${cycle.join(' -> ')}`);
  }
  return deps;
}

async function replaceMulti(ds: string, config: GitConfig, key: string, values: readonly string[], signal?: AbortSignal): Promise<void> {
  if (config.getAll(key).length) {
    // Local scope only, as DataLad: values from ~/.gitconfig stay (and still count).
    const r = await git(ds, ['config', '--local', '--unset-all', key], { signal });
    if (r.code !== 0 && r.code !== 5) throw new OrchestrationError(`git config --unset-all ${key}: ${firstErrorLine(r)}`);
  }
  for (const v of values) await gitOk(ds, ['config', '--local', '--add', key, v], { signal });
}

async function isAnnex(ds: string, config: GitConfig): Promise<boolean> {
  return config.get('annex.uuid') !== undefined || (await git(ds, ['rev-parse', '--verify', '--quiet', 'refs/heads/git-annex'])).code === 0;
}

/** Writes the settings of an existing (or just added) remote; the checks were done by the caller. */
async function writeSettings(ds: string, name: string, config: GitConfig, deps: string[] | undefined, s: SiblingSettings): Promise<void> {
  const signal = s.signal;
  if (!config.getAll(`remote.${name}.fetch`).length) {
    await gitOk(ds, ['config', '--local', '--add', `remote.${name}.fetch`, `+refs/heads/*:refs/remotes/${name}/*`], { signal });
  }
  if (s.pushurl !== undefined) await gitOk(ds, ['config', '--local', `remote.${name}.pushurl`, s.pushurl], { signal });
  if (s.annexIgnore !== undefined) await gitOk(ds, ['config', '--local', `remote.${name}.annex-ignore`, String(s.annexIgnore)], { signal });
  if (deps !== undefined) await replaceMulti(ds, config, `remote.${name}.datalad-publish-depends`, deps, signal);
  if (s.publishByDefault !== undefined) await replaceMulti(ds, config, `remote.${name}.push`, s.publishByDefault, signal);
  if (!(await isAnnex(ds, config))) {
    if (s.annexWanted ?? s.annexRequired ?? s.annexGroup ?? s.annexGroupwanted ?? s.description) {
      throw new OrchestrationError('cannot set git-annex settings (wanted, required, group, description) of a plain Git repository');
    }
    return;
  }
  if (!(s.annexIgnore ?? config.bool(`remote.${name}.annex-ignore`))) {
    // As DataLad: a failure is not fatal (a git remote without git-annex, or one not reachable now).
    await git(ds, ['annex', 'enableremote', name], { signal });
  }
  for (const [prop, value] of [
    ['wanted', s.annexWanted],
    ['required', s.annexRequired],
    ['group', s.annexGroup],
  ] as const) {
    if (value !== undefined) await gitOk(ds, ['annex', prop, name, value], { signal });
  }
  if (s.annexGroupwanted !== undefined) {
    if (!s.annexGroup) throw new OrchestrationError('--annex-groupwanted needs --annex-group (the group whose expression it sets)');
    await gitOk(ds, ['annex', 'groupwanted', s.annexGroup, s.annexGroupwanted], { signal });
  }
  if (s.description !== undefined) await gitOk(ds, ['annex', 'describe', name, s.description], { signal });
}

async function recordOf(ds: string, name: string, action: SiblingRecord['action'], signal?: AbortSignal): Promise<SiblingRecord> {
  const sibling = (await listSiblings(ds, { signal })).find((s) => s.name === name);
  if (!sibling) throw new OrchestrationError(`sibling "${name}" vanished while it was being configured`);
  return siblingRecord(ds, sibling, action);
}

function checkName(name: string): void {
  if (!name) throw new OrchestrationError('no sibling name given');
  if (name === 'here') throw new OrchestrationError('"here" is the name of the dataset itself, not of a sibling');
  if (/[\s/\\:]|^-|\.\.|\.$|^\./.test(name) || name.includes('\0')) {
    throw new OrchestrationError(`"${name}" cannot be a sibling name: use letters, digits, "-" and "_" (no spaces, "/" or ":")`);
  }
}

/**
 * Adds a git sibling NAME at URL and configures it. An existing name is
 * refused with DataLad's message; dependencies are checked first.
 */
export async function addSibling(ds: string, options: AddSiblingOptions): Promise<SiblingRecord> {
  const { name, url, signal } = options;
  checkName(name);
  await requireRepository(ds, signal);
  const config = await GitConfig.read(ds, signal);
  const known = config.remoteNames();
  if (known.includes(name)) throw new OrchestrationError(`sibling is already known: ${name}, use \`configure\` instead?`);
  if (!url) throw new OrchestrationError(`sibling "${name}" needs a URL (--url)`);
  const graph = dependencyGraph(await siblingsFromConfig(ds, config, { wanted: false, signal }));
  const deps = options.publishDepends === undefined ? undefined : checkDepends(graph, [...known, name], name, options.publishDepends);
  await gitOk(ds, ['remote', 'add', '--', name, url], { signal });
  try {
    await writeSettings(ds, name, await GitConfig.read(ds, signal), deps, options);
  } catch (err) {
    // Loses nothing: a half-configured new remote is taken out again.
    await git(ds, ['remote', 'remove', name]);
    throw err;
  }
  return recordOf(ds, name, 'add-sibling', signal);
}

/** Changes an existing sibling's settings (or adds it when a URL is given, as DataLad's configure does). */
export async function configureSibling(ds: string, options: ConfigureSiblingOptions): Promise<SiblingRecord> {
  const { name, signal } = options;
  checkName(name);
  await requireRepository(ds, signal);
  let config = await GitConfig.read(ds, signal);
  const known = config.remoteNames();
  if (!known.includes(name)) {
    if (options.url === undefined) {
      throw new OrchestrationError(`unknown sibling "${name}" (known: ${known.join(', ') || 'none'}); to add it, give --url`);
    }
    const { url, ...rest } = options;
    const added = await addSibling(ds, { ...rest, name, url });
    return { ...added, action: 'configure-sibling' };
  }
  const graph = dependencyGraph(await siblingsFromConfig(ds, config, { wanted: false, signal }));
  const deps = options.publishDepends === undefined ? undefined : checkDepends(graph, known, name, options.publishDepends);
  if (options.url !== undefined) {
    await gitOk(ds, ['config', '--local', `remote.${name}.url`, options.url], { signal });
    config = await GitConfig.read(ds, signal);
  }
  await writeSettings(ds, name, config, deps, options);
  return recordOf(ds, name, 'configure-sibling', signal);
}

export interface RemoveSiblingOptions {
  /** Remove it even when other siblings depend on it (their dependency then names an unknown remote, and push refuses them). */
  force?: boolean;
  signal?: AbortSignal;
}

/**
 * Removes sibling NAME (`git remote remove`, as DataLad). `notneeded` when
 * there is none. Refused while another sibling depends on it, unless forced.
 */
export async function removeSibling(ds: string, name: string, options: RemoveSiblingOptions = {}): Promise<SiblingRecord> {
  const { signal } = options;
  checkName(name);
  await requireRepository(ds, signal);
  const siblings = await listSiblings(ds, { wanted: false, signal });
  const record: SiblingRecord = { action: 'remove-sibling', status: 'ok', path: ds, type: 'sibling', name };
  if (!siblings.some((s) => s.name === name)) return { ...record, status: 'notneeded', message: `no sibling "${name}"` };
  const users = siblings.filter((s) => s.publishDepends.includes(name)).map((s) => s.name);
  if (users.length && !options.force) {
    throw new OrchestrationError(
      `refusing to remove "${name}": ${users.map((u) => `"${u}"`).join(', ')} depend${users.length === 1 ? 's' : ''} on it (remote.${users[0]}.datalad-publish-depends); change that first, or remove with --force`,
    );
  }
  await gitOk(ds, ['remote', 'remove', name], { signal });
  return record;
}

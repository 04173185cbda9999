/**
 * Which datasets a push covers and what changed in each: the dataset itself,
 * and with -r (or a path inside one) its installed subdatasets, bottom-up
 * (subdatasets before their superdataset, as DataLad's diff reports them).
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { OrchestrationError } from '../errors.js';
import { git, gitOk } from '../git.js';

export interface DatasetWork {
  /** Absolute path. */
  path: string;
  /** Paths given for this dataset, relative to it; undefined = all of it, [] = none of its files (only its branch, for a subdataset named). */
  paths?: string[];
  /** The superdataset it was found in (undefined for the dataset push was called on). */
  parent?: string;
}

export interface SubdatasetIssue {
  path: string;
  /** Named explicitly (an error, as in DataLad), or only met while recursing (reported, not a failure). */
  explicit: boolean;
}

/** The top of the dataset containing `path`. */
export async function datasetRoot(path: string, signal?: AbortSignal): Promise<string> {
  // Looked at first: git spawned in a missing directory fails as if git were not installed, in a file with ENOTDIR.
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new OrchestrationError(`${path} does not exist`);
  const r = await git(st.isDirectory() ? path : dirname(path), ['rev-parse', '--show-toplevel'], { signal });
  if (r.code !== 0) throw new OrchestrationError(`no dataset found at ${path} (not inside a git repository with a work tree)`);
  return r.stdout.trim();
}

/** Subdataset paths (relative) recorded in HEAD. */
async function subdatasetsOf(ds: string, signal?: AbortSignal): Promise<string[]> {
  const r = await git(ds, ['ls-tree', '-r', '-z', '--full-tree', 'HEAD'], { signal });
  if (r.code !== 0) return [];
  return r.stdout
    .split('\0')
    .filter((e) => e.startsWith('160000 '))
    .map((e) => e.slice(e.indexOf('\t') + 1));
}

const installed = async (path: string, signal?: AbortSignal): Promise<boolean> => {
  if (!existsSync(join(path, '.git'))) return false;
  const r = await git(path, ['rev-parse', '--show-toplevel'], { signal });
  return r.code === 0 && resolve(r.stdout.trim()) === resolve(path);
};

const inside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/**
 * The datasets to push, bottom-up, with the paths that apply to each, and the
 * subdatasets that cannot be pushed because they are not installed.
 */
export async function datasetsToPush(
  top: string,
  paths: readonly string[],
  recursive: boolean,
  signal?: AbortSignal,
): Promise<{ datasets: DatasetWork[]; issues: SubdatasetIssue[] }> {
  const absolute = paths.map((p) => (isAbsolute(p) ? resolve(p) : resolve(top, p)));
  for (const p of absolute) {
    if (!inside(p, top)) throw new OrchestrationError(`path ${p} is outside the dataset ${top}`);
  }
  const datasets: DatasetWork[] = [];
  const issues: SubdatasetIssue[] = [];
  const visit = async (ds: string, selected: string[] | undefined, parent: string | undefined): Promise<void> => {
    // selected: undefined = the whole dataset; else absolute paths inside it.
    for (const rel of await subdatasetsOf(ds, signal)) {
      const sub = join(ds, rel);
      const named = selected?.filter((p) => inside(p, sub)) ?? [];
      const wanted = recursive ? selected === undefined || named.length > 0 || selected.some((p) => inside(sub, p)) : named.length > 0;
      if (!wanted) continue;
      if (!(await installed(sub, signal))) {
        issues.push({ path: sub, explicit: named.length > 0 });
        continue;
      }
      // Inside the subdataset: the paths that point into it, or all of it.
      const within = named.filter((p) => p !== sub);
      await visit(sub, within.length ? within : undefined, ds);
    }
    const mine = selected?.filter((p) => !datasets.some((d) => inside(p, d.path))).map((p) => relative(ds, p));
    datasets.push({ path: ds, ...(mine === undefined ? {} : { paths: mine }), ...(parent === undefined ? {} : { parent }) });
  };
  await visit(top, absolute.length ? absolute : undefined, undefined);
  return { datasets, issues };
}

/** Paths (relative) that differ between `since` and HEAD; undefined = everything counts (no since). */
export async function changedSince(ds: string, since: string | undefined, signal?: AbortSignal): Promise<Set<string> | undefined> {
  if (since === undefined) return undefined;
  const r = await gitOk(ds, ['diff', '--name-only', '-z', '--no-renames', '--ignore-submodules=none', since, 'HEAD', '--'], { signal });
  return new Set(r.stdout.split('\0').filter(Boolean));
}

/** Paths whose work tree or index differs from HEAD: their unsaved changes are never pushed. */
export async function unsavedPaths(ds: string, signal?: AbortSignal): Promise<Set<string>> {
  const r = await gitOk(ds, ['--no-optional-locks', 'status', '--porcelain=v1', '-z', '--untracked-files=no', '--ignore-submodules=all'], { signal });
  const out = new Set<string>();
  const entries = r.stdout.split('\0');
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] ?? '';
    if (e.length < 4) continue;
    out.add(e.slice(3));
    // A rename or copy is followed by its source path.
    if (e[0] === 'R' || e[0] === 'C') out.add(entries[++i] ?? '');
  }
  return out;
}

/** Whether `file` (relative) is selected by `paths` (relative; undefined or '' = everything). */
export const selects = (paths: readonly string[] | undefined, file: string): boolean =>
  paths === undefined || paths.some((p) => p === '' || p === '.' || file === p || file.startsWith(p.endsWith('/') ? p : `${p}/`));

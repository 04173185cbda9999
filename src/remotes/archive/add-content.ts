/**
 * `annexd add-archive-content`: registers every file of an annexed archive as
 * an annexed file with the dl+archive URL DataLad records
 * (`datalad add-archive-content`, datalad/local/add_archive_content.py), so
 * DataLad's datalad-archives remote reads what annexd wrote and annexd's
 * reads what DataLad wrote:
 * - the files go beside the archive, under the member's path (minus the
 *   common leading directories with --strip-leading-dirs);
 * - each gets `dl+archive:<archive key>#path=<member>&size=<bytes>` through
 *   `git annex addurl`, claimed by the datalad-archives remote (created with
 *   DataLad's fixed UUID when missing), which extracts the content;
 * - symbolic links inside the archive become files with their target's
 *   content (as DataLad's extraction does); links that leave the archive, or
 *   point nowhere, and members with unsafe names are skipped with a reason.
 */
import { join, posix, relative, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { RemoteError, messageOf } from '../../protocol/errors.js';
import { exec, type ExecResult } from '../../util/exec.js';
import { withAnnexdBin } from '../../util/bin-path.js';
import { readRemoteLog } from '../core/repo-settings.js';
import { archiveSchema, type Limits } from './config.js';
import { sniff } from './formats.js';
import { DATALAD_ARCHIVES } from './index.js';
import { resolveMember, type MemberInfo } from './members.js';
import { ArchiveContent } from './source.js';
import { scanTar } from './tar.js';
import { formatArchiveUrl } from './url.js';

export type Existing = 'fail' | 'overwrite' | 'archive-suffix';

export interface AddArchiveOptions {
  /** The archive file, relative to `cwd` or absolute. */
  archive: string;
  cwd: string;
  stripLeadingDirs: boolean;
  existing: Existing;
  /** git rm the archive afterwards (its key and URLs stay). */
  delete: boolean;
  /** Drop each added file's content afterwards (the archive serves it). */
  dropAfter: boolean;
  /** One record per file as it is done. */
  report(record: AddRecord): void;
}

export interface AddRecord {
  action: 'add-archive-content';
  status: 'ok' | 'error' | 'impossible' | 'notneeded';
  /** The file in the repository, relative to its top. */
  path: string;
  member?: string;
  url?: string;
  key?: string;
  message?: string;
}

export interface AddSummary {
  archive: string;
  archiveKey: string;
  added: number;
  skipped: number;
  failed: number;
  dropped: number;
  commit: boolean;
}

/** DataLad's file_basename: up to two extensions of 2-5 characters starting with a letter are cut off. */
export function fileBasename(name: string): { base: string; ext: string } {
  const bname = posix.basename(name);
  const base = bname.replace(/(\.[a-zA-Z_]\S{1,4}){0,2}$/, '');
  return { base, ext: bname.slice(base.length + 1) };
}

/** The directory components every file shares (DataLad's get_leading_directory). */
export function leadingDirectory(names: string[]): string[] {
  let leading: string[] | undefined;
  for (const n of names) {
    const dirs = n.split('/').slice(0, -1);
    if (leading === undefined) {
      leading = dirs;
      continue;
    }
    let i = 0;
    while (i < leading.length && i < dirs.length && leading[i] === dirs[i]) i++;
    leading = leading.slice(0, i);
  }
  return leading ?? [];
}

/** DataLad's archive-suffix rule: NAME-ARCHIVE.EXT, then NAME-ARCHIVE.1.EXT, … until free. */
export function suffixed(path: string, archiveBase: string, taken: (p: string) => boolean): string {
  const dir = posix.dirname(path);
  const fn = posix.basename(path);
  const endsWithDot = fn.endsWith('.');
  const { base, ext } = fileBasename(fn);
  const stem = `${base}-${archiveBase}`;
  for (let i = 0; ; i++) {
    const suf = i === 0 ? '' : `.${i}`;
    const file = `${stem}${suf}${ext || endsWithDot ? '.' : ''}${ext}`;
    const candidate = dir === '.' ? file : `${dir}/${file}`;
    if (!taken(candidate)) return candidate;
  }
}

async function git(top: string, args: string[], input?: string): Promise<ExecResult> {
  return exec('git', args, { cwd: top, env: withAnnexdBin(), input });
}

async function gitOk(top: string, args: string[], input?: string): Promise<ExecResult> {
  const r = await git(top, args, input);
  if (r.code !== 0) {
    const said = (r.stderr.trim() || r.stdout.trim()).split('\n').pop() ?? '';
    throw new RemoteError(`git ${args.slice(0, 2).join(' ')} failed: ${said}`);
  }
  return r;
}

/** The datalad-archives remote, enabled here: created with DataLad's UUID and settings when the dataset has none. */
async function ensureArchivesRemote(top: string, gitDir: string): Promise<void> {
  const here = await git(top, ['config', `remote.${DATALAD_ARCHIVES.externalType}.annex-uuid`]);
  if (here.code === 0 && here.stdout.trim() === DATALAD_ARCHIVES.uuid) return;
  const known = (await readRemoteLog(gitDir)).has(DATALAD_ARCHIVES.uuid);
  if (known) {
    await gitOk(top, ['annex', 'enableremote', DATALAD_ARCHIVES.externalType]);
    return;
  }
  // What DataLad's init_datalad_remote runs (datalad/customremotes/base.py).
  await gitOk(top, [
    'annex',
    'initremote',
    DATALAD_ARCHIVES.externalType,
    'encryption=none',
    'type=external',
    'autoenable=true',
    `externaltype=${DATALAD_ARCHIVES.externalType}`,
    `uuid=${DATALAD_ARCHIVES.uuid}`,
  ]);
}

/** Every regular file the archive has (links resolved inside it), and the members skipped with why. */
async function listFiles(
  file: string,
  archiveKey: string,
  limits: Limits,
): Promise<{ files: Array<{ member: MemberInfo; size: number }>; skipped: Array<{ member: MemberInfo; why: string }> }> {
  const format = await sniff(file, archiveKey);
  let members: Map<string, MemberInfo>;
  if (format === 'zip') {
    const { openZip } = await import('./zip.js');
    const zip = await openZip(file, archiveKey, limits);
    members = zip.members;
    zip.close();
  } else {
    const { size } = await stat(file);
    const list = await scanTar({ archiveKey, file, format, compressedSize: size, limits, signal: new AbortController().signal, take: async () => undefined });
    members = new Map(list.map((m) => [m.name, m]));
  }
  const files: Array<{ member: MemberInfo; size: number }> = [];
  const skipped: Array<{ member: MemberInfo; why: string }> = [];
  for (const m of members.values()) {
    if (m.type === 'directory' || m.name === '') continue;
    try {
      const target = resolveMember(archiveKey, m.name, (n) => members.get(n), { urlSize: undefined, keySize: undefined, key: '' });
      files.push({ member: m, size: target.size });
    } catch (err) {
      skipped.push({ member: m, why: messageOf(err) });
    }
  }
  files.sort((a, b) => (a.member.name < b.member.name ? -1 : 1));
  return { files, skipped };
}

interface AddurlJson {
  success?: boolean;
  file?: string;
  key?: string | null;
  note?: string;
  'error-messages'?: string[];
}

export async function addArchiveContent(o: AddArchiveOptions): Promise<AddSummary> {
  const topR = await git(o.cwd, ['rev-parse', '--show-toplevel']);
  if (topR.code !== 0) throw new RemoteError(`${o.cwd} is not in a git repository: run this in a git-annex repository (or DataLad dataset)`);
  const top = topR.stdout.trim();
  const gitDir = resolve(top, (await gitOk(top, ['rev-parse', '--git-dir'])).stdout.trim());
  const archivePath = resolve(o.cwd, o.archive);
  const rel = relative(top, archivePath).split('\\').join('/');
  if (rel.startsWith('..')) throw new RemoteError(`${o.archive} is outside the repository ${top}`);
  const keyR = await git(top, ['annex', 'lookupkey', '--', rel]);
  const archiveKey = keyR.stdout.trim();
  if (keyR.code !== 0 || !archiveKey) {
    throw new RemoteError(`${rel} is not an annexed file: add and commit it first ("git annex add ${rel} && git commit", or "datalad save ${rel}")`);
  }
  const limits: Limits = { maxRatio: archiveSchema.maxratio.parse(''), maxTotal: archiveSchema.maxtotal.parse('') };
  const content = new ArchiveContent(top);
  const file = await content.obtain(archiveKey, '(every file)', async (m) => void process.stderr.write(`${m}\n`));
  const { files, skipped } = await listFiles(file, archiveKey, limits);
  const summary: AddSummary = { archive: rel, archiveKey, added: 0, skipped: skipped.length, failed: 0, dropped: 0, commit: false };
  for (const s of skipped) o.report({ action: 'add-archive-content', status: 'impossible', path: s.member.raw, member: s.member.raw, message: `skipped: ${s.why}` });
  if (files.length === 0) return summary;

  const leading = o.stripLeadingDirs ? leadingDirectory(files.map((f) => f.member.name)) : [];
  const extractDir = posix.dirname(rel);
  const archiveBase = fileBasename(rel).base;
  const planned = new Set<string>();
  const taken = (p: string): boolean => planned.has(p) || existsSync(join(top, p));
  const plan: Array<{ path: string; member: MemberInfo; url: string; replace: boolean }> = [];
  for (const { member, size } of files) {
    const inner = member.name.split('/').slice(leading.length).join('/');
    let path = extractDir === '.' ? inner : `${extractDir}/${inner}`;
    let replace = false;
    if (taken(path)) {
      if (o.existing === 'fail') {
        throw new RemoteError(
          `${path} exists, but would be overwritten by "${member.raw}" from ${rel}: nothing was added; choose --existing overwrite or --existing archive-suffix`,
        );
      }
      if (o.existing === 'overwrite') replace = !planned.has(path);
      else path = suffixed(path, archiveBase, taken);
    }
    if (/[\n\r]/.test(path)) {
      o.report({ action: 'add-archive-content', status: 'impossible', path, member: member.raw, message: 'skipped: the name has a line break, which git annex addurl --batch cannot take' });
      summary.skipped++;
      continue;
    }
    planned.add(path);
    plan.push({ path, member, url: formatArchiveUrl(archiveKey, member.name, size), replace });
  }

  await ensureArchivesRemote(top, gitDir);
  const replaced = plan.filter((p) => p.replace).map((p) => p.path);
  if (replaced.length > 0) await gitOk(top, ['rm', '-q', '-r', '-f', '--ignore-unmatch', '--pathspec-from-file=-', '--pathspec-file-nul'], replaced.join('\0'));
  for (const p of replaced) await rm(join(top, p), { recursive: true, force: true });

  const add = await git(
    top,
    ['annex', 'addurl', '--batch', '--with-files', '--json', '--json-error-messages'],
    plan.map((p) => `${p.url} ${p.path}`).join('\n') + '\n',
  );
  const results = add.stdout.split('\n').filter(Boolean).map((l) => {
    try {
      return JSON.parse(l) as AddurlJson;
    } catch {
      return undefined;
    }
  });
  const byFile = new Map(results.filter((r): r is AddurlJson => !!r && !!r.file).map((r) => [r.file as string, r]));
  const added: string[] = [];
  for (const p of plan) {
    const r = byFile.get(p.path);
    if (r?.success) {
      added.push(p.path);
      summary.added++;
      o.report({ action: 'add-archive-content', status: 'ok', path: p.path, member: p.member.raw, url: p.url, key: r.key ?? undefined });
    } else {
      summary.failed++;
      const why = [r?.note, ...(r?.['error-messages'] ?? [])].filter(Boolean).join('; ') || add.stderr.trim().split('\n').pop() || 'git annex addurl failed';
      o.report({ action: 'add-archive-content', status: 'error', path: p.path, member: p.member.raw, url: p.url, message: why.replace(/\s+/g, ' ') });
    }
  }
  if (added.length > 0 && o.dropAfter) {
    const drop = await git(top, ['annex', 'drop', '--batch', '--json'], added.join('\n') + '\n');
    summary.dropped = drop.stdout.split('\n').filter((l) => l.includes('"success":true')).length;
  }
  const touched = [...added, ...replaced];
  if (o.delete && added.length > 0) {
    await gitOk(top, ['rm', '-q', '--', rel]);
    touched.push(rel);
  }
  if (touched.length > 0) {
    const msg = `[annexd] Added content extracted from archive ${rel}\n\nFiles added: ${summary.added}; skipped: ${summary.skipped}; failed: ${summary.failed}${o.dropAfter ? `; dropped: ${summary.dropped}` : ''}${o.delete ? `; archive removed from the tree` : ''}`;
    await gitOk(top, ['commit', '-q', '-m', msg, '--pathspec-from-file=-', '--pathspec-file-nul'], touched.join('\0'));
    summary.commit = true;
  }
  return summary;
}

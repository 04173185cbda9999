/**
 * The archive remote: files inside annexed tar and zip archives, read-only.
 * Each file has `dl+archive:ARCHIVEKEY#path=MEMBER&size=N` URLs (as DataLad's
 * add-archive-content records them); RETRIEVE gets the archive's content
 * (nested `git annex get --key` when it is not here, once per archive however
 * many jobs ask), then streams the one member out: from the cache of
 * decompressed tars, from a zip's central directory, or, for tars too big for
 * the cache, in one pass over the archive.
 *
 * The same code serves two programs: git-annex-remote-annexd-archive, and
 * git-annex-remote-datalad-archives, a drop-in for DataLad's remote of that
 * externaltype (datasets made by DataLad work unchanged).
 */
import { copyFile, link, open, stat, unlink } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { CheckUrlResult, LocalPath, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import { withFileLock } from '../../util/file-lock.js';
import { exec } from '../../util/exec.js';
import type { Backend, BackendDefinition, TransferContext } from '../core/backend.js';
import { keySize } from '../core/keys.js';
import { writeFrom } from '../core/local-file.js';
import { formatSize } from '../core/sizes.js';
import { ArchiveCache, type CachedArchive } from './cache.js';
import { archiveSchema, type ArchiveConfig, type Limits } from './config.js';
import { describeArchiveError } from './errors.js';
import { sniff, type Format } from './formats.js';
import { resolveMember, type Expected, type MemberInfo } from './members.js';
import { ArchiveContent } from './source.js';
import { scanTar, type MemberSink } from './tar.js';
import { isArchiveUrl, MalformedUrlError, parseArchiveUrl, URL_PREFIX, type ArchiveLocator } from './url.js';
import type { ZipArchive } from './zip.js';

/** DataLad's remote: its externaltype and the UUID every dataset gives it (datalad/consts.py). */
export const DATALAD_ARCHIVES = { externalType: 'datalad-archives', uuid: 'c04eb54b-4b4e-5755-8436-866b043170fa' } as const;

/** Another process may be fetching a big archive: wait for it rather than fail. */
const LOCK_WAIT_MS = 6 * 3600 * 1000;

/** A cache file that is not the size its member has: the entry is damaged, and built again. */
class CacheDamaged extends Error {}

/**
 * Puts a cached member at `file`: a hard link (no bytes written; DataLad's
 * remote does the same), else a copy (another file system, or links refused).
 * A cache file whose size or mtime changed since it was written (say, edited
 * through a link from an unlocked file with annex.thin) is never handed out.
 * Returns the size.
 */
async function linkOut(data: string, member: MemberInfo, file: LocalPath): Promise<number> {
  const st = await stat(data);
  if (st.size !== member.size || (member.stamp !== undefined && st.mtimeMs !== member.stamp)) {
    throw new CacheDamaged(`cached member "${member.raw}" changed since it was extracted`);
  }
  await unlink(file).catch(() => undefined);
  try {
    await link(data, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    await copyFile(data, file);
  }
  return (await stat(file)).size;
}

/** An archive ready to read members from. */
type Opened =
  | { kind: 'cached'; cached: CachedArchive }
  | { kind: 'zip'; zip: ZipArchive }
  | { kind: 'stream'; file: string; format: Exclude<Format, 'zip'>; size: number };

class ArchiveBackend implements Backend {
  private readonly opened = new Map<string, Promise<Opened>>();
  private toldCache = false;

  constructor(
    private readonly name: string,
    private readonly content: ArchiveContent,
    private readonly cache: ArchiveCache,
    private readonly limits: Limits,
  ) {}

  claimUrl(url: string): boolean {
    return isArchiveUrl(url);
  }

  private readOnly(): RemoteError {
    return new RemoteError(
      `${this.name} is read-only: it serves files from inside archives and cannot store or remove them (drop the file, or the archive, from a remote that holds it)`,
    );
  }

  async store(): Promise<void> {
    throw this.readOnly();
  }

  async remove(): Promise<void> {
    throw this.readOnly();
  }

  /** Every dl+archive locator of a key; malformed ones as errors. */
  private async locators(key: string, ctx: RequestContext): Promise<Array<ArchiveLocator | MalformedUrlError>> {
    const urls = await ctx.annex.getUrls(key, URL_PREFIX);
    return urls.map((u) => {
      try {
        return parseArchiveUrl(u);
      } catch (err) {
        if (err instanceof MalformedUrlError) return err;
        throw err;
      }
    });
  }

  /** The archive, prepared once per process (jobs asking at the same time share the work), and once across processes by a lock. */
  private openArchive(archiveKey: string, member: string, ctx: RequestContext): Promise<Opened> {
    let p = this.opened.get(archiveKey);
    if (!p) {
      p = this.prepare(archiveKey, member, ctx);
      this.opened.set(archiveKey, p);
      // A failure is not remembered: the next request tries again.
      p.catch(() => this.opened.delete(archiveKey));
    }
    return p;
  }

  private async prepare(archiveKey: string, member: string, ctx: RequestContext): Promise<Opened> {
    const cached = await this.cache.lookup(archiveKey);
    if (cached) return { kind: 'cached', cached };
    await this.cache.ensureDir();
    return withFileLock(
      this.cache.lockFile(archiveKey),
      async () => {
        const again = await this.cache.lookup(archiveKey);
        if (again) return { kind: 'cached', cached: again };
        const file = await this.content.obtain(archiveKey, member, (m) => ctx.annex.info(m));
        const format = await sniff(file, archiveKey);
        const size = (await stat(file)).size;
        if (format === 'zip') {
          const { openZip } = await import('./zip.js');
          return { kind: 'zip', zip: await openZip(file, archiveKey, this.limits) };
        }
        if (this.cache.fits(archiveKey)) {
          await ctx.annex.debug(`decompressing archive ${archiveKey} (${format}) into the cache ${this.cache.dir}`);
          if (!this.toldCache) {
            this.toldCache = true;
            await ctx.annex.info(
              `decompressing archive ${archiveKey} once into ${this.cache.dir} (at most cachesize=${formatSize(this.cache.maxBytes)}; unused archives go after cacheage; it may be removed at any time)`,
            );
          }
          const built = await this.cache.build(archiveKey, (write) =>
            scanTar({ archiveKey, file, format, compressedSize: size, limits: this.limits, signal: ctx.signal, take: write }),
          );
          if (built) return { kind: 'cached', cached: built };
          await ctx.annex.info(
            `archive ${archiveKey} expands to more than cachesize=${formatSize(this.cache.maxBytes)}: each file is read from the start of the archive instead (raise cachesize= to cache it)`,
          );
        }
        return { kind: 'stream', file, format, size };
      },
      { timeoutMs: LOCK_WAIT_MS },
    );
  }

  /** Finds the member in an opened archive (following links inside it) and checks it. */
  private async find(o: Opened, loc: ArchiveLocator, expected: Expected, signal: AbortSignal): Promise<MemberInfo> {
    if (o.kind === 'cached') return resolveMember(loc.archiveKey, loc.path, (n) => o.cached.members.get(n), expected);
    if (o.kind === 'zip') return resolveMember(loc.archiveKey, loc.path, (n) => o.zip.members.get(n), expected);
    const members = await this.scan(o, loc.archiveKey, signal, async () => undefined);
    return resolveMember(loc.archiveKey, loc.path, (n) => members.get(n), expected);
  }

  private async scan(
    o: Extract<Opened, { kind: 'stream' }>,
    archiveKey: string,
    signal: AbortSignal,
    take: (m: MemberInfo) => Promise<MemberSink | undefined>,
  ): Promise<Map<string, MemberInfo>> {
    const list = await scanTar({ archiveKey, file: o.file, format: o.format, compressedSize: o.size, limits: this.limits, signal, take });
    return new Map(list.map((m) => [m.name, m]));
  }

  /** Writes one member into `file`, checked against the URL's and the key's size. */
  private async extract(o: Opened, loc: ArchiveLocator, key: string, file: LocalPath, t: TransferContext): Promise<void> {
    const expected: Expected = { urlSize: loc.size, keySize: keySize(key), key };
    const onBytes = (n: number): void => t.progress.add(n);
    let written: number;
    let member: MemberInfo;
    if (o.kind === 'stream') {
      // One pass writes every occurrence of the name (the last wins, as in extraction); a link costs another pass.
      let target = loc.path;
      for (;;) {
        const fh = await open(file, 'w', 0o644);
        let pos = 0;
        try {
          const members = await this.scan(o, loc.archiveKey, t.signal, async (m) => {
            if (m.name !== target) return undefined;
            // A later member of the same name replaces an earlier one.
            pos = 0;
            t.progress.set(0);
            return {
              async write(chunk) {
                await fh.write(chunk, 0, chunk.length, pos);
                pos += chunk.length;
                onBytes(chunk.length);
              },
              close: async () => undefined,
            };
          });
          await fh.truncate(pos);
          member = resolveMember(loc.archiveKey, loc.path, (n) => members.get(n), expected);
        } finally {
          await fh.close();
        }
        if (member.name === target) {
          written = pos;
          break;
        }
        target = member.name;
      }
    } else {
      member = await this.find(o, loc, expected, t.signal);
      if (o.kind === 'cached') {
        written = await linkOut(o.cached.dataOf(member), member, file);
        t.progress.set(written);
      } else {
        written = await writeFrom(file, 0, member.size === 0 ? Readable.from([]) : await o.zip.open(member), onBytes, t.signal);
      }
    }
    if (written !== member.size && o.kind === 'cached') {
      await unlink(file).catch(() => undefined);
      throw new CacheDamaged(`cached member "${member.raw}" of ${loc.archiveKey} has ${written} bytes, not ${member.size}`);
    }
    if (written !== member.size) {
      throw new RemoteError(`member "${member.raw}" of archive ${loc.archiveKey} ended after ${written} of its ${member.size} bytes: the archive is truncated`);
    }
  }

  async retrieve(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    const all = await this.locators(key, t);
    if (all.length === 0) {
      throw new RemoteError(`no ${URL_PREFIX} URL is recorded for ${key}: this remote serves only files added from archives (datalad add-archive-content)`);
    }
    const failures: string[] = all.filter((l): l is MalformedUrlError => l instanceof MalformedUrlError).map((e) => e.message);
    const locs = await this.ordered(all.filter((l): l is ArchiveLocator => !(l instanceof MalformedUrlError)));
    for (const loc of locs) {
      try {
        const o = await this.openArchive(loc.archiveKey, loc.path, t);
        try {
          await this.extract(o, loc, key, file, t);
        } catch (err) {
          // The cache entry (or the archive's content) went away under us, removed by another
          // process, or the entry is damaged: prepare the archive again, once.
          if (!((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof CacheDamaged)) throw err;
          this.opened.delete(loc.archiveKey);
          if (o.kind === 'zip') o.zip.close();
          if (err instanceof CacheDamaged) await this.cache.discard(loc.archiveKey);
          await this.extract(await this.openArchive(loc.archiveKey, loc.path, t), loc, key, file, t);
        }
        return;
      } catch (err) {
        if (t.signal.aborted) throw err;
        failures.push(err instanceof RemoteError ? err.message : describeArchiveError(err, `extracting "${loc.path}" from ${loc.archiveKey}`));
        void t.annex.debug(`${key} not extracted from ${loc.archiveKey}: ${failures[failures.length - 1]}`);
      }
    }
    // Nothing partial is left as the retrieved file.
    await unlink(file).catch(() => undefined);
    if (failures.length === 1) throw new RemoteError(failures[0] ?? '');
    throw new RemoteError(`could not extract ${key} from any of its ${failures.length} archives: ${failures.join('; ')}`);
  }

  /** Archives already here (or cached) first, as DataLad orders them. */
  private async ordered(locs: ArchiveLocator[]): Promise<ArchiveLocator[]> {
    const local = await Promise.all(
      locs.map(async (l) => this.opened.has(l.archiveKey) || (await this.cache.lookup(l.archiveKey)) !== undefined || (await this.content.locate(l.archiveKey)) !== undefined),
    );
    return [...locs.filter((_, i) => local[i]), ...locs.filter((_, i) => !local[i])];
  }

  /**
   * Present when an archive holding the file is here or recorded anywhere
   * git-annex knows (as DataLad's remote answers); when the archive is in the
   * cache, only if it really holds the member. Absent when no archive of it is
   * known to exist.
   */
  async checkPresent(key: string, ctx: RequestContext): Promise<boolean> {
    const locs = (await this.locators(key, ctx)).filter((l): l is ArchiveLocator => !(l instanceof MalformedUrlError));
    const expected: Expected = { urlSize: undefined, keySize: keySize(key), key };
    for (const loc of locs) {
      const cached = await this.cache.lookup(loc.archiveKey);
      if (cached) {
        try {
          resolveMember(loc.archiveKey, loc.path, (n) => cached.members.get(n), { ...expected, urlSize: loc.size });
          return true;
        } catch {
          continue;
        }
      }
      if ((await this.content.locate(loc.archiveKey)) || (await this.content.recorded(loc.archiveKey))) return true;
    }
    return false;
  }

  /** CHECKURL: the member's size, from the URL, else from the archive (which must be here, as for DataLad's remote). */
  async checkUrl(url: string, ctx: RequestContext): Promise<CheckUrlResult> {
    const loc = parseArchiveUrl(url);
    const filename = basename(loc.path);
    if (loc.size !== undefined) return { kind: 'contents', size: loc.size, filename };
    if (!this.opened.has(loc.archiveKey) && !(await this.cache.lookup(loc.archiveKey)) && !(await this.content.locate(loc.archiveKey))) {
      throw new RemoteError(`archive ${loc.archiveKey} is not here, and ${url} has no size=: get the archive first (git annex get --key ${loc.archiveKey})`);
    }
    const o = await this.openArchive(loc.archiveKey, loc.path, ctx);
    const m = await this.find(o, loc, { urlSize: undefined, keySize: undefined, key: '' }, ctx.signal);
    return { kind: 'contents', size: m.size, filename };
  }

  info(): Array<[string, string]> {
    return [
      ['cache', `${this.cache.dir} (at most ${formatSize(this.cache.maxBytes)})`],
      ['bomb limits', `maxratio=${this.limits.maxRatio} maxtotal=${formatSize(this.limits.maxTotal)}`],
    ];
  }

  async close(): Promise<void> {
    for (const p of this.opened.values()) {
      const o = await p.catch(() => undefined);
      if (o?.kind === 'zip') o.zip.close();
    }
  }
}

function definition(externalType: string, summary: string): BackendDefinition<typeof archiveSchema> {
  return {
    externalType,
    summary,
    schema: archiveSchema,
    // DataLad's value: other sources of a file (the web, a storage remote) are tried first.
    cost: 500,
    availability: 'LOCAL',
    exportCapable: false,
    async open(config: ArchiveConfig, ctx) {
      const cwd = process.cwd();
      const gitDir = resolve(cwd, (await ctx.annex.getGitDir()).toString());
      // git-annex starts us where the user ran it (a subdirectory, maybe); its paths are relative to the top.
      const top = await exec('git', ['rev-parse', '--show-toplevel'], { cwd });
      const repoDir = top.code === 0 && top.stdout.trim() ? top.stdout.trim() : cwd;
      const cache = new ArchiveCache(resolve(gitDir, 'annex', 'annexd', 'archives'), config.cachesize, config.cacheage);
      return new ArchiveBackend(externalType, new ArchiveContent(repoDir), cache, { maxRatio: config.maxratio, maxTotal: config.maxtotal });
    },
    describeError: (err, operation) => describeArchiveError(err, operation),
  };
}

export const archiveDefinition = definition(
  'annexd-archive',
  'read-only git-annex special remote for files inside annexed tar, tar.gz, tar.bz2, tar.xz and zip archives (dl+archive: URLs)',
);

export const dataladArchivesDefinition = definition(
  DATALAD_ARCHIVES.externalType,
  "drop-in for DataLad's datalad-archives special remote: serves dl+archive: URLs from annexed tar and zip archives, without DataLad",
);

/**
 * The cache of decompressed tar archives, under .git/annex/annexd/archives/:
 * one directory per archive with `data` (every regular member's bytes, one
 * after another) and `index.json` (name, type, size, offset of each member).
 * An archive is decompressed once, then each member is one read at an offset,
 * so a `get -J4` of 1,000 members of one tar.gz does not decompress it 1,000
 * times. Member names never become file names here: nothing from an archive is
 * written anywhere but `data` and the one requested file.
 *
 * Bounded: an archive that expands to more than cachesize is not cached (its
 * members are streamed out of the archive instead); after an archive is added
 * the least recently used ones are removed until the cache fits cachesize, and
 * any unused for cacheage is removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemberInfo } from './members.js';

const INDEX = 'index.json';
const DATA = 'data';
const INDEX_VERSION = 1;
/** Touching an entry's mtime (its "last used") at most this often. */
const TOUCH_EVERY_MS = 60_000;

export interface CachedArchive {
  archiveKey: string;
  data: string;
  members: Map<string, MemberInfo>;
}

interface IndexFile {
  version: number;
  archiveKey: string;
  bytes: number;
  members: MemberInfo[];
}

/** Thrown inside a build when the archive will not fit the cache. */
class TooBig extends Error {}

/** Last member of each name wins, as when a tar is extracted. */
function byName(members: MemberInfo[]): Map<string, MemberInfo> {
  return new Map(members.map((m) => [m.name, m]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export class ArchiveCache {
  private readonly loaded = new Map<string, { entry: CachedArchive; touched: number }>();
  /** Archives found too big for the cache in this process: not tried again. */
  private readonly tooBig = new Set<string>();
  private swept = false;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly maxAgeMs: number,
  ) {}

  private entryDir(archiveKey: string): string {
    return join(this.dir, createHash('sha256').update(archiveKey).digest('hex').slice(0, 32));
  }

  lockFile(archiveKey: string): string {
    return `${this.entryDir(archiveKey)}.lock`;
  }

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  fits(archiveKey: string): boolean {
    return this.enabled && !this.tooBig.has(archiveKey);
  }

  /** The cached archive, or undefined. The first lookup of a process sweeps the cache. */
  async lookup(archiveKey: string): Promise<CachedArchive | undefined> {
    if (!this.swept) {
      this.swept = true;
      await this.sweep();
    }
    const dir = this.entryDir(archiveKey);
    const mem = this.loaded.get(archiveKey);
    if (mem) {
      if (Date.now() - mem.touched < TOUCH_EVERY_MS) return mem.entry;
      if (await this.touch(dir)) {
        mem.touched = Date.now();
        return mem.entry;
      }
      this.loaded.delete(archiveKey);
      return undefined;
    }
    let index: IndexFile;
    try {
      index = JSON.parse(await readFile(join(dir, INDEX), 'utf8')) as IndexFile;
    } catch {
      return undefined;
    }
    if (index.version !== INDEX_VERSION || index.archiveKey !== archiveKey) return undefined;
    const entry: CachedArchive = { archiveKey, data: join(dir, DATA), members: byName(index.members) };
    await this.touch(dir);
    this.loaded.set(archiveKey, { entry, touched: Date.now() });
    return entry;
  }

  private async touch(dir: string): Promise<boolean> {
    const now = new Date();
    try {
      await utimes(join(dir, INDEX), now, now);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Adds an archive: `fill` writes every member's data through `write` and
   * returns the members. undefined when it does not fit (then it never will
   * in this process). Call under the archive's lock.
   */
  async build(
    archiveKey: string,
    fill: (write: (member: MemberInfo) => (chunk: Buffer) => Promise<void>) => Promise<MemberInfo[]>,
  ): Promise<CachedArchive | undefined> {
    await this.ensureDir();
    await this.sweep();
    const final = this.entryDir(archiveKey);
    const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(tmp);
    let handle: FileHandle | undefined;
    let bytes = 0;
    try {
      handle = await open(join(tmp, DATA), 'w', 0o600);
      const fh = handle;
      const members = await fill((member) => {
        member.offset = bytes;
        if (bytes + member.size > this.maxBytes) throw new TooBig();
        return async (chunk) => {
          await fh.write(chunk, 0, chunk.length, bytes);
          bytes += chunk.length;
        };
      });
      await handle.close();
      handle = undefined;
      const index: IndexFile = { version: INDEX_VERSION, archiveKey, bytes, members };
      await writeFile(join(tmp, INDEX), JSON.stringify(index), { mode: 0o600 });
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await rm(tmp, { recursive: true, force: true });
      if (err instanceof TooBig || (err instanceof Error && err.cause instanceof TooBig)) {
        this.tooBig.add(archiveKey);
        return undefined;
      }
      throw err;
    }
    const entry = await this.lookup(archiveKey);
    await this.sweep(final);
    return entry;
  }

  /**
   * Removes what is unused for longer than cacheage, builds left by dead
   * processes, and then the least recently used archives until the cache
   * fits (never `keep`).
   */
  async sweep(keep?: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    const entries: Array<{ dir: string; used: number; bytes: number }> = [];
    for (const name of names) {
      const dir = join(this.dir, name);
      const tmp = /\.tmp-(\d+)-[0-9a-f]+$/.exec(name);
      if (tmp) {
        if (!alive(Number(tmp[1]))) await rm(dir, { recursive: true, force: true });
        continue;
      }
      if (name.endsWith('.lock') || name.endsWith('.break')) continue;
      const [index, data] = await Promise.all([stat(join(dir, INDEX)).catch(() => undefined), stat(join(dir, DATA)).catch(() => undefined)]);
      if (!index) {
        // Not an entry (a stray directory): left alone unless it is old.
        continue;
      }
      entries.push({ dir, used: index.mtimeMs, bytes: data?.size ?? 0 });
    }
    const now = Date.now();
    let total = 0;
    const kept: typeof entries = [];
    for (const e of entries) {
      if (e.dir !== keep && now - e.used > this.maxAgeMs) await this.remove(e.dir);
      else {
        kept.push(e);
        total += e.bytes;
      }
    }
    kept.sort((a, b) => a.used - b.used);
    for (const e of kept) {
      if (total <= this.maxBytes) break;
      if (e.dir === keep) continue;
      await this.remove(e.dir);
      total -= e.bytes;
    }
  }

  private async remove(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    for (const [k, v] of this.loaded) if (v.entry.data === join(dir, DATA)) this.loaded.delete(k);
  }
}

/**
 * The cache of decompressed tar archives, under .git/annex/annexd/archives/:
 * one directory per archive with `index.json` (name, type, size of each
 * member) and `m/<n>`, the data of the n-th regular member. An archive is
 * decompressed once; each member is then hard-linked to the file git-annex
 * asked for (copied where a link cannot be made), as DataLad's remote does, so
 * a `get -J4` of 1,000 members of one tar.gz neither decompresses it 1,000
 * times nor writes every byte twice. Member names never become file names
 * here: nothing from an archive is written anywhere but `m/` and the one
 * requested file.
 *
 * Bounded: an archive that expands to more than cachesize is not cached (its
 * members are streamed out of the archive instead); after an archive is added
 * the least recently used ones are removed until the cache fits cachesize, and
 * any unused for cacheage is removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemberInfo } from './members.js';
import type { MemberSink } from './tar.js';

const INDEX = 'index.json';
const DATA = 'm';
const INDEX_VERSION = 2;
/** Touching an entry's mtime (its "last used") at most this often. */
const TOUCH_EVERY_MS = 60_000;

export interface CachedArchive {
  archiveKey: string;
  /** The file holding a member's data. */
  dataOf(member: MemberInfo): string;
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
    const entry: CachedArchive = { archiveKey, dataOf: (m) => join(dir, DATA, String(m.slot ?? -1)), members: byName(index.members) };
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
   * Adds an archive: `fill` writes every member's data through the sinks
   * `take` gives and returns the members. undefined when it does not fit (then
   * it never will in this process). Call under the archive's lock.
   */
  async build(
    archiveKey: string,
    fill: (take: (member: MemberInfo) => Promise<MemberSink>) => Promise<MemberInfo[]>,
  ): Promise<CachedArchive | undefined> {
    await this.ensureDir();
    await this.sweep();
    const final = this.entryDir(archiveKey);
    const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(join(tmp, DATA), { recursive: true });
    let bytes = 0;
    let slots = 0;
    try {
      const members = await fill(async (member) => {
        if (bytes + member.size > this.maxBytes) throw new TooBig();
        bytes += member.size;
        member.slot = slots++;
        const path = join(tmp, DATA, String(member.slot));
        const fh = await open(path, 'w', 0o644);
        let pos = 0;
        return {
          async write(chunk) {
            await fh.write(chunk, 0, chunk.length, pos);
            pos += chunk.length;
          },
          async close() {
            await fh.close();
            member.stamp = (await stat(path)).mtimeMs;
          },
        };
      });
      const index: IndexFile = { version: INDEX_VERSION, archiveKey, bytes, members };
      await writeFile(join(tmp, INDEX), JSON.stringify(index), { mode: 0o600 });
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
    } catch (err) {
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

  /** Forgets a damaged entry (a member file of the wrong size): the next request builds it again. */
  async discard(archiveKey: string): Promise<void> {
    await this.remove(this.entryDir(archiveKey));
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
      let index: IndexFile;
      let used: number;
      try {
        const path = join(dir, INDEX);
        index = JSON.parse(await readFile(path, 'utf8')) as IndexFile;
        used = (await stat(path)).mtimeMs;
      } catch {
        // Not an entry (a stray directory): left alone.
        continue;
      }
      entries.push({ dir, used, bytes: index.bytes ?? 0 });
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
    for (const [k] of this.loaded) if (this.entryDir(k) === dir) this.loaded.delete(k);
  }
}

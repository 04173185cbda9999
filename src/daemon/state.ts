/**
 * The daemon's persistent state: which datasets sync to which sibling, how
 * often, and how their last sync went. One JSON file, read and replaced whole
 * under a lock (the CLI and the daemon both write it), replaced atomically so
 * a crash leaves the old or the new file, never a mix.
 */
import { mkdir, readFile, rename, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { errCode, errText, withFileLock, writeFileAtomic } from '../util/file-lock.js';
import { DATA_MODES, type DataMode } from '../orchestration/push/index.js';
import { DaemonError } from './errors.js';
import { stateDir } from '../util/state-dir.js';

export type SyncResult = 'ok' | 'failed' | 'running' | 'interrupted';

export interface SyncEntry {
  /** The dataset's top directory (absolute). */
  path: string;
  sibling: string;
  /** The dataset's annex.uuid when it was added: a dataset moved to another path is known by it. */
  uuid?: string;
  /** Sync at least this often (ms); undefined: only on change, at start-up and when asked. */
  everyMs?: number;
  onChange: boolean;
  /** Fetch and merge from the sibling before pushing. */
  pull: boolean;
  data: DataMode;
  paused: boolean;
  addedAt: string;
  lastStart?: string;
  lastEnd?: string;
  /** 'running' on disk means a daemon died mid-sync: the next one redoes it. */
  lastResult?: SyncResult;
  lastError?: string;
  /** Failures in a row (the backoff grows with it); 0 after a success. */
  failures: number;
  /** When the scheduler runs it next (ISO time); undefined: when a change or a request comes. */
  nextDue?: string;
}

export interface StateDoc {
  format: 'annexd-sync-state';
  version: 1;
  syncs: SyncEntry[];
}

const FORMAT = 'annexd-sync-state';

export { stateDir } from '../util/state-dir.js';

export const sameEntry = (a: { path: string; sibling: string }, b: { path: string; sibling: string }): boolean =>
  a.path === b.path && a.sibling === b.sibling;

/** Durations as "90s", "5m", "2h", "1d", "1h30m", or plain seconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  if (/^\d+$/.test(text) && Number(text) > 0) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (units[m[2] ?? 's'] ?? 1000);
    end = re.lastIndex;
  }
  if (!text || end !== text.length || total <= 0) throw new DaemonError(`"${text}" is not a duration (examples: 30s, 5m, 2h, 1d, 1h30m)`);
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let left = Math.round(ms / 1000);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
  }
  return parts.join('') || `${ms}ms`;
}

function validEntry(e: unknown): e is SyncEntry {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  return typeof o.path === 'string' && typeof o.sibling === 'string' && typeof o.paused === 'boolean' &&
    typeof o.onChange === 'boolean' && typeof o.pull === 'boolean' && DATA_MODES.includes(o.data as DataMode);
}

/** A file-system failure in words a user acts on (a full disk above all); undefined for other failures. */
export function storageProblem(err: unknown, dir: string): string | undefined {
  const text = errText(err);
  switch (errCode(err) ?? /\b(ENOSPC|EDQUOT|EROFS)\b/.exec(text)?.[1]) {
    case 'ENOSPC':
      return `the file system of ${dir} is full (${text})`;
    case 'EDQUOT':
      return `the disk quota for ${dir} is used up (${text})`;
    case 'EROFS':
      return `${dir} is on a read-only file system (${text})`;
  }
  return undefined;
}

/** The state directory and its sync list. */
export class SyncState {
  readonly dir: string;
  readonly file: string;
  private readonly lockFile: string;

  constructor(dir: string = stateDir()) {
    this.dir = dir;
    this.file = join(dir, 'syncs.json');
    this.lockFile = join(dir, 'syncs.lock');
  }

  /** Creates the directory (0700) when missing; tightens it when it is looser. */
  async ensureDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      if (errCode(err) === 'EEXIST' || errCode(err) === 'ENOTDIR') throw this.notADirectory();
      throw err;
    }
    await chmod(this.dir, 0o700).catch(() => undefined);
  }

  /** The state as on disk; a file that is not ours is moved aside and reported, never silently replaced. */
  async read(): Promise<StateDoc> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if (errCode(err) === 'ENOENT') return { format: FORMAT, version: 1, syncs: [] };
      if (errCode(err) === 'ENOTDIR') throw this.notADirectory();
      throw new DaemonError(`cannot read ${this.file}: ${errText(err)}`);
    }
    let doc: unknown;
    let problem: string | undefined;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      problem = `not valid JSON (${errText(err)})`;
    }
    if (!problem) {
      const d = doc as Partial<StateDoc> | null;
      if (typeof d !== 'object' || d === null || d.format !== FORMAT || !Array.isArray(d.syncs)) problem = 'not an annexd sync state file';
      else if (typeof d.version === 'number' && d.version > 1) {
        // A newer annexd's file is no corrupt one: left where it is, for that annexd.
        throw new DaemonError(`${this.file} is of version ${d.version}, written by a newer annexd than this one (which knows version 1): use that annexd, or another ANNEXD_STATE_DIR`);
      } else if (d.version !== 1) problem = `of version ${String(d.version)}, which no annexd writes`;
      else {
        const bad = d.syncs.findIndex((e) => !validEntry(e));
        if (bad !== -1) problem = `not a valid sync state file (sync entry ${bad + 1} of ${d.syncs.length} lacks path, sibling or a setting)`;
      }
    }
    if (problem) {
      // Kept aside, so whatever it held can be recovered by hand; the next command starts from an empty list.
      const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(this.file, aside).catch(() => undefined);
      throw new DaemonError(`${this.file} is ${problem}: moved aside to ${aside}; add the syncs again with "annexd sync add" (or repair that file and move it back)`);
    }
    const state = doc as StateDoc;
    for (const e of state.syncs) e.failures ??= 0;
    return state;
  }

  private notADirectory(): DaemonError {
    return new DaemonError(`the state directory ${this.dir} is not a directory (set ANNEXD_STATE_DIR to a directory, or move that file away)`);
  }

  /**
   * Read, change and write back, under the lock; returns what was written.
   * A failed write (a full disk) leaves the file as it was: the new one is
   * written beside it and renamed over it only when complete.
   */
  async update<T>(change: (doc: StateDoc) => T): Promise<{ doc: StateDoc; result: T }> {
    try {
      await this.ensureDir();
      return await withFileLock(this.lockFile, async () => {
        const doc = await this.read();
        const result = change(doc);
        await writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`, 0o600);
        return { doc, result };
      });
    } catch (err) {
      const why = storageProblem(err, this.dir);
      if (why) throw new DaemonError(`cannot save ${this.file}: ${why}; the file is kept as it was`);
      throw err;
    }
  }
}

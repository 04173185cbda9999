/**
 * --on-change: what the daemon watches in a dataset.
 *
 * - The refs (the git dir's HEAD, packed-refs, and refs/heads): a commit,
 *   seen as HEAD's commit moving, starts a sync. The daemon's own git-annex
 *   branch commits do not move HEAD, so they start nothing.
 * - The working tree: each directory (not .git, not a nested repository such
 *   as a subdataset; symlinks are not followed) gets an inotify watch, and
 *   after a quiet moment `git status` counts the uncommitted changes, which
 *   the status shows. The daemon never commits: push sends only what is
 *   committed, and what to commit is the user's choice.
 *
 * inotify watches are a per-user kernel budget (fs.inotify.max_user_watches)
 * shared with every other program. A dataset with more directories than
 * `maxDirs`, or one that would take the daemon past half of that budget, or
 * a watch the kernel refuses (ENOSPC) is polled instead (`git status` every
 * pollMs), and the status says why.
 *
 * node's own recursive fs.watch cannot leave out .git (thousands of object
 * directories) or stop at a budget, so the walk is done here.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { errCode, errText } from '../util/file-lock.js';
import { git } from '../orchestration/git.js';

export interface WorktreeStatus {
  /** watched: every directory has a watch; polled: `git status` every pollMs (see note); gone: the dataset's directory is missing. */
  mode: 'watched' | 'polled' | 'gone';
  /** Why it is polled (too many directories, the inotify limit), or why it is gone. */
  note?: string;
  /** polled: how often (ms). */
  pollMs?: number;
  /** Paths `git status` lists (changed, staged, deleted, untracked and not ignored); undefined before the first check. */
  uncommitted?: number;
  checkedAt?: string;
  /** The last check failed (git status failed). */
  error?: string;
}

export interface WatchOptions {
  /** Quiet time after a ref change before HEAD is looked at (ms). */
  debounceMs: number;
  /** Quiet time after a working-tree change before `git status` (ms). */
  treeDebounceMs: number;
  /** Directories watched in one dataset at most. */
  maxDirs: number;
  /** `git status` this often when the tree is not watched (ms). */
  pollMs: number;
  /** HEAD moved to a new commit. */
  onCommit: () => void;
  /** The working-tree status changed. */
  onTree: (s: WorktreeStatus) => void;
}

/**
 * `git status` runs at most this many at once over all datasets: 50 watched
 * datasets start (and a branch switch in many) together. Three lines of
 * hand-off, not worth a dependency.
 */
const MAX_CHECKS = 2;
let checksRunning = 0;
const waiting: Array<() => void> = [];
async function gated<T>(fn: () => Promise<T>): Promise<T> {
  if (checksRunning < MAX_CHECKS) checksRunning++;
  else await new Promise<void>((r) => waiting.push(r));
  try {
    return await fn();
  } finally {
    // The slot goes to the next waiter as it is, or is given back.
    const next = waiting.shift();
    if (next) next();
    else checksRunning--;
  }
}

/** Watches the daemon holds over all datasets; it keeps to half the user's inotify budget. */
let watchesInUse = 0;

function inotifyBudget(): number {
  try {
    return Math.floor(Number(readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8').trim()) / 2) || 4096;
  } catch {
    return 4096;
  }
}

const inside = (p: string, dir: string): boolean => p === dir || p.startsWith(dir + sep);

/** Counts the entries of `git status --porcelain -z` (a rename or copy carries its old name as an extra field). */
export function countStatus(z: string): number {
  const fields = z.split('\0').filter(Boolean);
  let n = 0;
  for (let i = 0; i < fields.length; i++) {
    n++;
    if (/^[RC]/.test(fields[i]!)) i++;
  }
  return n;
}

/** Every directory from `start` down (not .git, not a nested repository below `root`), or `over` when there are more than `limit`. */
async function walkDirs(start: string, limit: number, root: string): Promise<{ dirs: string[] } | { over: number }> {
  const dirs: string[] = [];
  const queue = [start];
  while (queue.length) {
    const dir = queue.shift()!;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    // A nested repository (a subdataset) is a dataset of its own; its changes are its own.
    if (dir !== root && entries.some((e) => e.name === '.git')) continue;
    dirs.push(dir);
    if (dirs.length > limit) return { over: limit };
    for (const e of entries) if (e.isDirectory() && e.name !== '.git') queue.push(join(dir, e.name));
  }
  return { dirs };
}

export class DatasetWatcher {
  private readonly refWatchers: FSWatcher[] = [];
  private readonly dirs = new Map<string, FSWatcher>();
  private refTimer: NodeJS.Timeout | undefined;
  private treeTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastHead: string | undefined;
  private checking = false;
  private checkAgain = false;
  private closed = false;
  private status: WorktreeStatus = { mode: 'watched' };

  constructor(
    readonly path: string,
    private readonly options: WatchOptions,
  ) {}

  get worktree(): WorktreeStatus {
    return this.status;
  }

  async start(): Promise<void> {
    const gd = await git(this.path, ['rev-parse', '--absolute-git-dir']).catch(() => undefined);
    if (this.closed) return;
    if (!gd || gd.code !== 0) return this.gone();
    const gitDir = gd.stdout.trim();
    this.lastHead = await this.head();
    if (this.closed) return;
    const refChanged = (): void => {
      clearTimeout(this.refTimer);
      this.refTimer = setTimeout(() => void this.refsChanged(), this.options.debounceMs);
    };
    for (const [dir, recursive] of [[gitDir, false], [join(gitDir, 'refs', 'heads'), true]] as const) {
      const w = this.watchDir(dir, refChanged, recursive);
      if (w) this.refWatchers.push(w);
    }
    await this.watchTree();
    this.checkTree();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.refTimer);
    clearTimeout(this.treeTimer);
    clearTimeout(this.pollTimer);
    for (const w of this.refWatchers) w.close();
    this.refWatchers.length = 0;
    this.unwatchTree();
  }

  private watchDir(dir: string, listener: (event: string, name: string | null) => void, recursive = false): FSWatcher | undefined {
    try {
      const w = watch(dir, { recursive, persistent: false }, listener);
      w.on('error', () => undefined);
      return w;
    } catch {
      return undefined;
    }
  }

  private async head(): Promise<string | undefined> {
    const r = await git(this.path, ['rev-parse', '--verify', '--quiet', 'HEAD']).catch(() => undefined);
    return r?.code === 0 ? r.stdout.trim() : undefined;
  }

  private async refsChanged(): Promise<void> {
    const head = await this.head();
    if (this.closed || head === undefined || head === this.lastHead) return;
    this.lastHead = head;
    this.options.onCommit();
    // A commit changes only .git: what it took from the tree is no longer uncommitted.
    this.checkTree();
  }

  private async watchTree(): Promise<void> {
    const budget = inotifyBudget();
    const limit = Math.min(this.options.maxDirs, Math.max(0, budget - watchesInUse));
    const found = await walkDirs(this.path, limit, this.path);
    if (this.closed) return;
    if ('over' in found) {
      const why =
        limit < this.options.maxDirs
          ? `the daemon's share of the inotify watches (half of fs.inotify.max_user_watches = ${budget * 2}) is used up`
          : `more than ${limit} directories (ANNEXD_WATCH_MAX_DIRS)`;
      return this.poll(why);
    }
    for (const dir of found.dirs) if (!this.addDir(dir)) return;
  }

  /** One directory's watch; false (and polling from now on) when the kernel refuses it. */
  private addDir(dir: string): boolean {
    if (this.dirs.has(dir) || this.status.mode === 'polled') return true;
    if (this.dirs.size >= this.options.maxDirs) {
      this.poll(`more than ${this.options.maxDirs} directories (ANNEXD_WATCH_MAX_DIRS)`);
      return false;
    }
    try {
      const w = watch(dir, { persistent: false }, (event, name) => this.treeEvent(dir, event, name));
      w.on('error', () => this.dropDir(dir));
      this.dirs.set(dir, w);
      watchesInUse++;
      return true;
    } catch (err) {
      if (errCode(err) === 'ENOENT') return true;
      this.poll(
        errCode(err) === 'ENOSPC'
          ? 'the inotify watch limit is reached (raise fs.inotify.max_user_watches)'
          : `cannot watch ${dir}: ${errText(err)}`,
      );
      return false;
    }
  }

  private dropDir(dir: string): void {
    for (const [d, w] of this.dirs) {
      if (inside(d, dir)) {
        w.close();
        this.dirs.delete(d);
        watchesInUse--;
      }
    }
  }

  private unwatchTree(): void {
    for (const w of this.dirs.values()) w.close();
    watchesInUse -= this.dirs.size;
    this.dirs.clear();
  }

  private treeEvent(dir: string, event: string, name: string | null): void {
    if (this.closed) return;
    if (name === '.git' || (dir === this.path && name === null)) {
      // The top itself (or its .git) went: checkTree finds out.
    } else if (event === 'rename' && name) {
      // A directory made, moved in, or removed: follow it.
      const p = join(dir, name);
      void stat(p).then(
        async (st) => {
          if (!st.isDirectory() || this.dirs.has(p) || this.closed) return;
          const before = this.dirs.size;
          const found = await walkDirs(p, Math.max(0, this.options.maxDirs - before), this.path);
          if (this.closed) return;
          if ('over' in found) return this.poll(`more than ${this.options.maxDirs} directories (ANNEXD_WATCH_MAX_DIRS)`);
          for (const d of found.dirs) if (!this.addDir(d)) return;
        },
        () => this.dropDir(p),
      );
    }
    clearTimeout(this.treeTimer);
    this.treeTimer = setTimeout(() => this.checkTree(), this.options.treeDebounceMs);
  }

  private poll(note: string): void {
    this.unwatchTree();
    this.status = { ...this.status, mode: 'polled', note, pollMs: this.options.pollMs };
    this.schedulePoll();
  }

  private schedulePoll(): void {
    clearTimeout(this.pollTimer);
    if (!this.closed) this.pollTimer = setTimeout(() => this.checkTree(), this.options.pollMs);
  }

  /** The dataset's directory is missing: look again now and then; when it is back, watch it again. */
  private gone(): void {
    this.unwatchTree();
    for (const w of this.refWatchers) w.close();
    this.refWatchers.length = 0;
    this.set({ mode: 'gone', note: 'the dataset directory is missing (removed or moved)', checkedAt: new Date().toISOString() });
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      if (this.closed) return;
      this.status = { mode: 'watched' };
      void this.start();
    }, this.options.pollMs);
  }

  private set(s: WorktreeStatus): void {
    const before = JSON.stringify({ ...this.status, checkedAt: undefined });
    this.status = s;
    if (JSON.stringify({ ...s, checkedAt: undefined }) !== before) this.options.onTree(s);
  }

  /** `git status` now (one at a time; again after it when asked meanwhile). */
  checkTree(): void {
    if (this.closed) return;
    if (this.checking) {
      this.checkAgain = true;
      return;
    }
    this.checking = true;
    void this.runCheck().finally(() => {
      this.checking = false;
      if (this.checkAgain && !this.closed) {
        this.checkAgain = false;
        this.checkTree();
      }
    });
  }

  private async runCheck(): Promise<void> {
    // --no-optional-locks: a status check must not write the index (nor take its lock from the user's git).
    const r = await gated(() => git(this.path, ['--no-optional-locks', 'status', '--porcelain=v1', '-z', '--untracked-files=normal', '--ignore-submodules=dirty']).catch(
      (err: unknown) => ({ code: -1, stdout: '', stderr: errText(err) }),
    ));
    if (this.closed) return;
    const checkedAt = new Date().toISOString();
    const { mode, note, pollMs } = this.status;
    const how = { mode, ...(note ? { note } : {}), ...(pollMs ? { pollMs } : {}), checkedAt };
    if (r.code !== 0) {
      const exists = await stat(this.path).then(() => true, () => false);
      if (!exists) return this.gone();
      this.set({ ...how, error: `git status: ${r.stderr.trim().split('\n')[0] || `exit ${r.code}`}` });
    } else {
      this.set({ ...how, uncommitted: countStatus(r.stdout) });
    }
    if (mode === 'polled') this.schedulePoll();
  }
}

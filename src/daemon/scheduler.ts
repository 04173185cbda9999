/**
 * The sync scheduler: which entry runs when. Timers for --every, ref watching
 * for --on-change, one sync per dataset at a time, several datasets at once
 * (bounded), backoff with jitter after a failure. The work itself is
 * orchestration's push (and pull); this only decides and records.
 *
 * Crash safety: an entry is marked running on disk before its sync starts
 * and gets its result only after push returned; a daemon that finds
 * 'running' at start-up (it died mid-sync) redoes that sync. Nothing is
 * reported synced that push did not report ok.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { errText } from '../util/file-lock.js';
import { redact } from '../util/redact.js';
import { pullFrom } from '../orchestration/pull.js';
import { runPush, type PushProgress } from '../orchestration/push/index.js';
import { listSiblings } from '../orchestration/siblings.js';
import type { OutsideTransfer } from './outside.js';
import { sameEntry, type SyncEntry, type SyncState } from './state.js';
import { DatasetWatcher, type WorktreeStatus } from './watch.js';

export interface SyncKey {
  path: string;
  sibling: string;
}

export interface SiblingInfo {
  name: string;
  publishDepends: string[];
  special: boolean;
}

export interface EntryStatus extends SyncEntry {
  running: boolean;
  queued: boolean;
  /** Live progress of the running sync, one per sibling it pushes to (the target and its dependencies). */
  progress: PushProgress[];
  siblings: SiblingInfo[];
  /** --on-change: the working tree's uncommitted changes, and how it is watched. */
  worktree?: WorktreeStatus;
}

export interface DaemonStatus {
  pid: number;
  startedAt: string;
  stateDir: string;
  maxParallel: number;
  syncs: EntryStatus[];
  /** The last problem with the state file (time: message), e.g. a corrupt one kept aside and the list written back. */
  stateError?: string;
  /** Transfers running outside the daemon (a `git annex copy` by hand), as their remote processes report them. */
  outside: OutsideTransfer[];
}

/** What the scheduler itself knows; the daemon adds the outside transfers. */
export type SchedulerStatus = Omit<DaemonStatus, 'outside'>;

export type DaemonEvent =
  | { type: 'sync-started'; path: string; sibling: string; at: string }
  | { type: 'sync-finished'; path: string; sibling: string; at: string }
  | { type: 'sync-failed'; path: string; sibling: string; at: string; error: string }
  | { type: 'progress'; path: string; sibling: string; progress: PushProgress }
  | { type: 'queue'; queued: SyncKey[]; running: SyncKey[] }
  | { type: 'state-error'; error: string }
  /** A transfer outside the daemon started, moved on or ended (state finished, failed or gone). */
  | { type: 'transfer'; transfer: OutsideTransfer }
  /** The list or a setting changed (sync add/remove, pause, resume). */
  | { type: 'entries-changed' }
  /** A watched working tree's uncommitted changes (or how it is watched) changed. */
  | { type: 'worktree'; path: string; worktree: WorktreeStatus };

export interface SchedulerOptions {
  state: SyncState;
  /** Datasets synced at the same time (default 4). */
  maxParallel?: number;
  /** Quiet time after a ref change before the sync starts (default 500 ms). */
  debounceMs?: number;
  /** Quiet time after a working-tree change before it is looked at (default 1 s). */
  treeDebounceMs?: number;
  /** Working-tree directories watched per dataset at most (default $ANNEXD_WATCH_MAX_DIRS, else 10000); past it, polled. */
  maxWatchDirs?: number;
  /** How often a working tree that is not watched is looked at (default $ANNEXD_WATCH_POLL, else 60 s). */
  pollMs?: number;
  /** First retry after a failure (default 30 s), doubling up to backoffMaxMs (default 1 h), ±25 % jitter. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  onEvent?: (e: DaemonEvent) => void;
}

interface Running {
  abort: AbortController;
  done: Promise<void>;
  progress: Map<string, PushProgress>;
}

const siblingInfo = (list: Awaited<ReturnType<typeof listSiblings>>): SiblingInfo[] =>
  list.map((s) => ({ name: s.name, publishDepends: s.publishDepends, special: s.special }));
const keyOf = (k: SyncKey): string => `${k.path}\0${k.sibling}`;
const nowIso = (): string => new Date().toISOString();
/** A positive number from the environment (times `scale`), else `fallback` (times `scale`). */
function envNumber(name: string, fallback: number, scale = 1): number {
  const v = Number(process.env[name]);
  return Math.round((Number.isFinite(v) && v > 0 ? v : fallback) * scale);
}
// setTimeout takes at most a signed 32-bit delay.
const MAX_DELAY = 2 ** 31 - 1;

export class Scheduler {
  readonly startedAt = nowIso();
  private entries: SyncEntry[] = [];
  private readonly running = new Map<string, Running>();
  private queue: SyncKey[] = [];
  private readonly again = new Set<string>();
  /** Syncs whose result could not be saved, and how many times in a row. */
  private readonly stateFailures = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly watchers = new Map<string, DatasetWatcher>();
  private readonly siblings = new Map<string, SiblingInfo[]>();
  private stateWatcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private stateError: string | undefined;
  private stopped = false;
  private readonly maxParallel: number;
  private readonly debounceMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;

  constructor(private readonly options: SchedulerOptions) {
    this.maxParallel = options.maxParallel ?? 4;
    this.debounceMs = options.debounceMs ?? 500;
    this.backoffBaseMs = options.backoffBaseMs ?? 30_000;
    this.backoffMaxMs = options.backoffMaxMs ?? 3_600_000;
  }

  private emit(e: DaemonEvent): void {
    this.options.onEvent?.(e);
  }

  /** Loads the state; a sync that was running when the last daemon died is redone now. */
  async start(): Promise<void> {
    const { state } = this.options;
    await state.ensureDir();
    const { doc } = await state.update((d) => {
      for (const e of d.syncs) {
        if (e.lastResult === 'running') {
          e.lastResult = 'interrupted';
          e.lastError = 'the daemon stopped during this sync; it is redone';
          e.nextDue = nowIso();
        }
      }
    });
    this.apply(doc.syncs);
    // The CLI changes the state file (sync add, pause...): reload when it does.
    this.stateWatcher = watch(state.dir, (_event, name) => {
      if (name !== basename(state.file)) return;
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => void this.reload(), 100);
    });
    this.schedule();
  }

  async reload(): Promise<void> {
    if (this.stopped) return;
    try {
      // A past problem stays shown (with its time) for the daemon's life: the user should hear of it.
      this.apply((await this.options.state.read()).syncs);
    } catch (err) {
      await this.recover(errText(err));
    }
    this.schedule();
  }

  /**
   * The state file failed to read or write. A bad file is kept aside by
   * SyncState.read; the daemon still holds the last good list, so it writes
   * that back (when the file is now empty or gone) and nothing is lost.
   */
  private async recover(problem: string): Promise<void> {
    const last = this.entries;
    try {
      await this.options.state.update((d) => {
        if (!d.syncs.length) d.syncs = last;
      });
      this.stateProblem(`${problem}; the daemon wrote back the list it had (${last.length} sync${last.length === 1 ? '' : 's'})`);
    } catch (again) {
      this.stateProblem(`${problem}; writing back the list the daemon had failed too: ${errText(again)}`);
    }
  }

  /** The entries from disk: watchers follow --on-change, the queue drops what was removed. */
  private apply(syncs: SyncEntry[]): void {
    // Our own writes come back through the state watcher too: only a real change is news.
    const changed = JSON.stringify(syncs) !== JSON.stringify(this.entries);
    this.entries = syncs;
    const watched = new Set(syncs.filter((e) => e.onChange && !e.paused).map((e) => e.path));
    for (const [path, w] of this.watchers) {
      if (!watched.has(path)) {
        w.close();
        this.watchers.delete(path);
      }
    }
    for (const path of watched) if (!this.watchers.has(path)) this.watch(path);
    for (const path of new Set(syncs.map((e) => e.path))) if (!this.siblings.has(path)) void this.learnSiblings(path);
    this.queue = this.queue.filter((k) => this.entry(k)?.paused === false);
    // 'running' on disk but not running here: its result could not be saved (a full disk); it is redone.
    for (const e of syncs) if (e.lastResult === 'running' && !e.paused && !this.running.has(keyOf(e))) this.enqueue(e);
    if (changed) this.emit({ type: 'entries-changed' });
  }

  private stateProblem(error: string): void {
    this.stateError = `${nowIso()}: ${error}`;
    this.emit({ type: 'state-error', error });
  }

  private entry(k: SyncKey): SyncEntry | undefined {
    return this.entries.find((e) => sameEntry(e, k));
  }

  private async learnSiblings(path: string): Promise<void> {
    try {
      const list = await listSiblings(path, { wanted: false });
      this.siblings.set(path, siblingInfo(list));
    } catch {
      this.siblings.set(path, []);
    }
  }

  /** --on-change (see watch.ts): a commit queues the dataset's on-change syncs; the working tree's state is shown. */
  private watch(path: string): void {
    const w = new DatasetWatcher(path, {
      debounceMs: this.debounceMs,
      treeDebounceMs: this.options.treeDebounceMs ?? 1000,
      maxDirs: this.options.maxWatchDirs ?? envNumber('ANNEXD_WATCH_MAX_DIRS', 10_000),
      pollMs: this.options.pollMs ?? envNumber('ANNEXD_WATCH_POLL', 60, 1000),
      onCommit: () => {
        for (const e of this.entries) if (e.path === path && e.onChange && !e.paused) this.enqueue(e);
        this.pump();
      },
      onTree: (worktree) => this.emit({ type: 'worktree', path, worktree }),
    });
    this.watchers.set(path, w);
    void w.start();
  }

  /** Queues what is due and sets the timer for the next one. */
  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const now = Date.now();
    let next = Infinity;
    for (const e of this.entries) {
      if (e.paused || !e.nextDue) continue;
      const due = Date.parse(e.nextDue);
      if (due <= now) this.enqueue(e);
      else next = Math.min(next, due);
    }
    if (next !== Infinity) this.timer = setTimeout(() => this.schedule(), Math.min(next - now, MAX_DELAY));
    this.pump();
  }

  private enqueue(k: SyncKey): boolean {
    const key = keyOf(k);
    // Asked again while running (a commit during the sync): once more after it.
    if (this.running.has(key)) {
      this.again.add(key);
      return false;
    }
    if (this.queue.some((q) => keyOf(q) === key)) return false;
    this.queue.push({ path: k.path, sibling: k.sibling });
    this.emitQueue();
    return true;
  }

  private emitQueue(): void {
    this.emit({
      type: 'queue',
      queued: [...this.queue],
      running: [...this.running.keys()].map((k) => {
        const [path = '', sibling = ''] = k.split('\0');
        return { path, sibling };
      }),
    });
  }

  /** Starts queued syncs while there is room; a dataset already syncing waits. */
  private pump(): void {
    if (this.stopped) return;
    const busyPaths = (): Set<string> => new Set([...this.running.keys()].map((k) => k.split('\0')[0] ?? ''));
    let changed = false;
    for (let i = 0; i < this.queue.length && this.running.size < this.maxParallel; ) {
      const k = this.queue[i]!;
      if (busyPaths().has(k.path)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      const entry = this.entry(k);
      if (!entry || entry.paused) continue;
      this.run(entry);
      changed = true;
    }
    if (changed) this.emitQueue();
  }

  private run(entry: SyncEntry): void {
    const key = keyOf(entry);
    const abort = new AbortController();
    const progress = new Map<string, PushProgress>();
    const slot: Running = { abort, progress, done: Promise.resolve() };
    const slotKey: SyncKey = { path: entry.path, sibling: entry.sibling };
    this.running.set(key, slot);
    slot.done = this.sync(entry, abort.signal, progress)
      .then(() => {
        if (this.stateFailures.delete(key) && this.stateError) this.stateProblem(`${this.stateError.replace(/^\S+: /, '')}; saved again at ${nowIso()}`);
      })
      // The sync's own failures are recorded in it; what lands here is the state file failing (full disk, permissions).
      .catch((err: unknown) => {
        this.stateProblem(`cannot record the sync of ${entry.path} -> ${entry.sibling}: ${errText(err)}`);
        this.holdOff(slotKey, errText(err));
      })
      .finally(() => {
        this.running.delete(key);
        const entry = this.entry(slotKey);
        if (this.again.delete(key) && entry && !entry.paused) this.enqueue(entry);
        this.emitQueue();
        this.schedule();
      });
  }

  /**
   * The state file could not be written (a full disk): the sync's result is
   * not on disk (a 'running' there is redone by the next daemon), so it is
   * shown as failed and tried again, 5 s then doubling up to 1 min, until
   * the state can be written.
   */
  private holdOff(k: SyncKey, error: string): void {
    const e = this.entry(k);
    if (!e || this.stopped) return;
    const n = (this.stateFailures.get(keyOf(k)) ?? 0) + 1;
    this.stateFailures.set(keyOf(k), n);
    e.lastResult = 'failed';
    e.lastEnd = nowIso();
    e.lastError = `${error} (this sync is redone once the state can be saved)`;
    e.nextDue = new Date(Date.now() + Math.min(60_000, 5000 * 2 ** (n - 1))).toISOString();
  }

  private backoff(failures: number): number {
    const base = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.max(0, failures - 1));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  private async sync(entry: SyncEntry, signal: AbortSignal, progress: Map<string, PushProgress>): Promise<void> {
    const { path, sibling } = entry;
    const started = nowIso();
    await this.record(entry, (e) => {
      e.lastResult = 'running';
      e.lastStart = started;
      // Due again only by its result (a restart redoes a 'running' one anyway).
      delete e.nextDue;
    });
    this.emit({ type: 'sync-started', path, sibling, at: started });
    let error: string | undefined;
    const problems: string[] = [];
    try {
      // Without this, git's spawn in a missing directory fails as if git were not installed.
      if (!existsSync(path)) {
        throw new Error(`${path} does not exist (the dataset was removed or moved; "annexd sync add NEWPATH --to ${sibling}" moves its sync along, "annexd sync remove ${path}" stops it)`);
      }
      // Else push's own "unknown push target" says nothing of what to do. The list is also the status's.
      const list = await listSiblings(path, { wanted: false, signal });
      this.siblings.set(path, siblingInfo(list));
      const names = list.map((s) => s.name);
      if (!names.includes(sibling)) {
        throw new Error(`${path} has no sibling "${sibling}" any more (${names.length ? `its siblings: ${names.join(', ')}` : 'it has none'}); add it back, or stop this sync with "annexd sync remove ${path} --to ${sibling}"`);
      }
      if (entry.pull) await pullFrom(path, sibling, signal);
      let lastProgress = 0;
      const ok = await runPush(path, { to: sibling, data: entry.data, signal }, (ev) => {
        if (ev.kind === 'progress') {
          progress.set(ev.progress.target, ev.progress);
          // A few updates a second are enough for a display; a file finishing always goes out.
          const now = Date.now();
          if (now - lastProgress >= 100 || ev.progress.filesDone === ev.progress.filesTotal) {
            lastProgress = now;
            this.emit({ type: 'progress', path, sibling, progress: ev.progress });
          }
        } else if (ev.kind === 'record' && (ev.record.status === 'error' || ev.record.status === 'impossible')) {
          const r = ev.record;
          problems.push(`${r.action} ${r.path === path ? '.' : r.path.slice(path.length + 1)}${r.target ? ` to ${r.target}` : ''}: ${r.error_message ?? r.message ?? r.status}`);
        }
      });
      if (!ok) error = problems[0] ? `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}` : 'push did not complete';
    } catch (err) {
      error = errText(signal.aborted ? (signal.reason ?? err) : err);
      // What push reported before it gave up says more than its last exception.
      if (!signal.aborted && problems[0]) error = `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}; then: ${error}`;
    }
    if (error !== undefined) error = redact(error).replace(/\s*\n\s*/g, ' ');
    const at = nowIso();
    if (signal.aborted) {
      await this.record(entry, (e) => {
        e.lastResult = 'interrupted';
        e.lastError = 'stopped with the daemon; redone at its next start';
        e.lastEnd = at;
        e.nextDue = at;
      });
      this.emit({ type: 'sync-failed', path, sibling, at, error: 'interrupted' });
      return;
    }
    await this.record(entry, (e) => {
      e.lastEnd = at;
      if (error === undefined) {
        e.lastResult = 'ok';
        delete e.lastError;
        e.failures = 0;
        e.nextDue = e.everyMs ? new Date(Date.now() + e.everyMs).toISOString() : undefined;
      } else {
        e.lastResult = 'failed';
        e.lastError = error;
        e.failures = (e.failures ?? 0) + 1;
        e.nextDue = new Date(Date.now() + this.backoff(e.failures)).toISOString();
      }
    });
    this.emit(error === undefined ? { type: 'sync-finished', path, sibling, at } : { type: 'sync-failed', path, sibling, at, error });
  }

  /** Changes one entry on disk (skipped when it was removed meanwhile) and takes the new list. */
  private async record(k: SyncKey, change: (e: SyncEntry) => void): Promise<void> {
    const { doc } = await this.options.state.update((d) => {
      const e = d.syncs.find((x) => sameEntry(x, k));
      if (e) change(e);
    });
    this.entries = doc.syncs;
  }

  /** Queues the syncs of `path` (all when undefined) that are not paused; how many were queued or already running. */
  requestSync(path?: string): number {
    let n = 0;
    for (const e of this.entries) {
      if ((path === undefined || e.path === path) && !e.paused) {
        this.enqueue(e);
        n++;
      }
    }
    this.pump();
    return n;
  }

  async setPaused(paused: boolean, path?: string): Promise<number> {
    const { doc, result } = await this.options.state.update((d) => {
      const hit = d.syncs.filter((e) => path === undefined || e.path === path);
      for (const e of hit) e.paused = paused;
      return hit.length;
    });
    this.apply(doc.syncs);
    this.schedule();
    return result;
  }

  status(): SchedulerStatus {
    const queued = new Set(this.queue.map(keyOf));
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      stateDir: this.options.state.dir,
      maxParallel: this.maxParallel,
      syncs: this.entries.map((e) => {
        const run = this.running.get(keyOf(e));
        const worktree = e.onChange ? this.watchers.get(e.path)?.worktree : undefined;
        return {
          ...e,
          running: !!run,
          queued: queued.has(keyOf(e)),
          progress: run ? [...run.progress.values()] : [],
          siblings: this.siblings.get(e.path) ?? [],
          ...(worktree ? { worktree } : {}),
        };
      }),
      ...(this.stateError ? { stateError: this.stateError } : {}),
    };
  }

  /** Stops timers and watchers and aborts running syncs; resolves once they recorded their state (or after `graceMs`). */
  async stop(graceMs = 4000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.reloadTimer);
    this.stateWatcher?.close();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.queue = [];
    const pending = [...this.running.values()];
    for (const r of pending) r.abort.abort(new Error('the daemon is stopping'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(pending.map((r) => r.done)), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
}

/**
 * One request budget for every annexd process that talks to the same OSF:
 * every ASYNC job's requests take a token from the same bucket (`rate` per
 * second, bursts of `burst`), so `copy -J8` is as polite as one job, and so
 * are several git-annex processes at once (annexd push runs one per sibling
 * and job; a user may copy in two datasets). A 429 from the server pauses the
 * bucket for its Retry-After: every job of every process waits, not only the
 * one that got it.
 *
 * Between processes the bucket is a small state file (tokens, last refill,
 * pause) read and written under a lock file, one per OSF API origin, in the
 * user's runtime directory. Without one (a unit test, a one-off request) the
 * bucket lives in this process only.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { withFileLock } from '../../util/file-lock.js';

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Bursts by default: small, so that no second ever sees more than rate + burst
 * requests taken from the bucket; 1 leaves OSF's limit (10 a second) one
 * request of margin at the default rate of 8, for requests the network or a
 * busy machine delivers bunched (2 did not: a bench on a loaded machine saw 11
 * arrive within one second, and one 429).
 */
export const DEFAULT_BURST = 1;

interface BucketState {
  tokens: number;
  /** When `tokens` was last brought up to date (ms since the epoch). */
  last: number;
  /** No request before this (a 429's Retry-After). */
  pausedUntil: number;
}

/** Where processes of this user share budgets: $ANNEXD_RUNTIME_DIR, else $XDG_RUNTIME_DIR/annexd, else a 0700 folder in the temp directory. */
function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ANNEXD_RUNTIME_DIR) return env.ANNEXD_RUNTIME_DIR;
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'annexd') : join(tmpdir(), `annexd-${userInfo().uid}`);
}

/** The state file shared by every process sending to `api`'s origin. */
export function sharedBudgetFile(api: string, env: NodeJS.ProcessEnv = process.env): string {
  const origin = new URL(api).origin;
  return join(runtimeDir(env), `osf-budget-${createHash('sha256').update(origin).digest('hex').slice(0, 16)}.json`);
}

export class RequestBudget {
  private state: BucketState;
  /** Whether the shared directory is usable (made, or checked to be this user's own). */
  private dirReady: Promise<boolean> | undefined;

  constructor(
    readonly rate: number,
    readonly burst = Math.min(DEFAULT_BURST, rate),
    /** The state file shared with other processes; undefined: this process only. */
    readonly sharedFile?: string,
  ) {
    this.state = { tokens: burst, last: Date.now(), pausedUntil: 0 };
  }

  private refill(st: BucketState, now: number): void {
    if (now <= st.last) return;
    st.tokens = Math.min(this.burst, st.tokens + ((now - st.last) / 1000) * this.rate);
    st.last = now;
  }

  /** One look at the bucket: takes a token (0), or says how long to wait for one. */
  private attempt(st: BucketState, now: number): number {
    // A pause this process learnt of is kept even if the shared file was lost.
    st.pausedUntil = Math.max(st.pausedUntil, this.state.pausedUntil);
    if (now < st.pausedUntil) return st.pausedUntil - now;
    this.refill(st, now);
    if (st.tokens >= 1) {
      st.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - st.tokens) / this.rate) * 1000);
  }

  /** Runs `change` on the shared state under its lock (or on this process's own). */
  private async update<T>(change: (st: BucketState) => T): Promise<T> {
    const file = this.sharedFile;
    this.dirReady ??= file ? privateDir(dirname(file)) : Promise.resolve(false);
    if (!file || !(await this.dirReady)) return change(this.state);
    return withFileLock(`${file}.lock`, async () => {
      const st = parseState(await readFile(file, 'utf8').catch(() => '')) ?? { ...this.state, tokens: this.burst };
      const result = change(st);
      // Every reader holds the lock: a plain write is seen whole.
      await writeFile(file, JSON.stringify(st), { mode: 0o600 });
      this.state = { ...st };
      return result;
    });
  }

  /** Waits for a pause to end and a token to be free, and takes it. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const wait = await this.update((st) => this.attempt(st, Date.now()));
      if (wait === 0) return;
      await sleep(wait, signal);
    }
  }

  /** The server said "not before `ms` from now": no job of any process sends anything until then. */
  async pause(ms: number): Promise<void> {
    const until = Date.now() + ms;
    this.state.pausedUntil = Math.max(this.state.pausedUntil, until);
    await this.update((st) => {
      st.pausedUntil = Math.max(st.pausedUntil, until);
      st.tokens = 0;
      st.last = Math.max(st.last, until);
    });
  }
}

/**
 * Makes the shared directory, or checks that the one there is this user's
 * own and writable by nobody else: in a shared /tmp another user could have
 * made it, and planted links that our writes would follow. If not, each
 * process keeps its own budget (as before there was sharing).
 */
async function privateDir(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const st = await lstat(dir);
    return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

function parseState(text: string): BucketState | undefined {
  try {
    const j = JSON.parse(text) as Partial<BucketState>;
    if (typeof j.tokens === 'number' && typeof j.last === 'number' && typeof j.pausedUntil === 'number') return j as BucketState;
  } catch {
    // A file cut by a crash: start afresh.
  }
  return undefined;
}

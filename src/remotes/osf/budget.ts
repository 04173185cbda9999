/**
 * One request budget for the whole process: every ASYNC job's requests to OSF
 * take a token from the same bucket (`rate` per second, bursts of `burst`),
 * so `copy -J8` is as polite as one job. A 429 from the server pauses the
 * bucket for its Retry-After: every job waits, not only the one that got it.
 */

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

/** Bursts by default: small, so that no second ever sees more than rate + burst requests. */
export const DEFAULT_BURST = 2;

export class RequestBudget {
  private tokens: number;
  private last = Date.now();
  private pausedUntil = 0;
  /** Requests let through, and pauses ordered by the server. */
  sent = 0;
  pauses = 0;

  constructor(
    readonly rate: number,
    readonly burst = Math.min(DEFAULT_BURST, rate),
  ) {
    this.tokens = burst;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Waits for a pause to end and a token to be free, and takes it. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      if (now < this.pausedUntil) {
        await sleep(this.pausedUntil - now, signal);
        continue;
      }
      this.refill(now);
      if (this.tokens >= 1) {
        this.tokens -= 1;
        this.sent++;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000), signal);
    }
  }

  /** The server said "not before `ms` from now": no job sends anything until then. */
  pause(ms: number): void {
    const until = Date.now() + ms;
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.pauses++;
    }
    this.tokens = 0;
    this.last = until;
  }
}

/** The shared retry policy: bounded, Retry-After aware, stops on what cannot succeed. */
import { describe, expect, it } from 'vitest';
import { orAlreadyDone, parseRetryAfter, withRetry, type RetryPolicy, type Verdict } from '../../src/remotes/core/retry.js';

const fast: RetryPolicy = { retries: 3, minDelayMs: 1, maxDelayMs: 5, maxTotalMs: 10_000 };

class Failure extends Error {
  constructor(readonly verdict: Verdict) {
    super('failed');
  }
}
const classify = (err: unknown): Verdict => (err instanceof Failure ? err.verdict : { retry: false });

/** An operation that always throws `error`, counting its calls. */
function alwaysFailing(error: Failure): { op: () => Promise<never>; calls: () => number } {
  let calls = 0;
  return {
    op: async () => {
      calls++;
      throw error;
    },
    calls: () => calls,
  };
}

describe('withRetry', () => {
  it('retries retryable failures and returns the eventual result', async () => {
    let calls = 0;
    const seen: number[] = [];
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new Failure({ retry: true });
        return 'ok';
      },
      { policy: fast, classify, onRetry: ({ attempt }) => seen.push(attempt) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(seen).toEqual([1, 2]);
  });

  it('gives up after the configured number of retries with the original error', async () => {
    const original = new Failure({ retry: true });
    const failing = alwaysFailing(original);
    await expect(withRetry(failing.op, { policy: fast, classify })).rejects.toBe(original);
    expect(failing.calls()).toBe(4);
  });

  it('does not retry what cannot succeed', async () => {
    const original = new Failure({ retry: false });
    const failing = alwaysFailing(original);
    await expect(withRetry(failing.op, { policy: fast, classify })).rejects.toBe(original);
    expect(failing.calls()).toBe(1);
  });

  it('waits at least as long as Retry-After asks', async () => {
    let calls = 0;
    const start = Date.now();
    await withRetry(
      async () => {
        calls++;
        if (calls === 1) throw new Failure({ retry: true, retryAfterMs: 300 });
        return undefined;
      },
      { policy: fast, classify },
    );
    expect(calls).toBe(2);
    expect(Date.now() - start).toBeGreaterThanOrEqual(290);
  });

  it('reports instead of waiting when Retry-After is unreasonably long', async () => {
    const original = new Failure({ retry: true, retryAfterMs: 3_600_000 });
    const failing = alwaysFailing(original);
    await expect(withRetry(failing.op, { policy: fast, classify })).rejects.toBe(original);
    expect(failing.calls()).toBe(1);
  });

  it('stops at once when aborted, even during a wait', async () => {
    const ac = new AbortController();
    const failing = alwaysFailing(new Failure({ retry: true, retryAfterMs: 30_000 }));
    const run = withRetry(failing.op, { policy: fast, classify, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('git-annex went away')), 50);
    // The abort's own reason, not the operation's error: it stopped waiting, it did not run out.
    await expect(run).rejects.toThrow('git-annex went away');
    expect(failing.calls()).toBe(1);
  });
});

describe('orAlreadyDone', () => {
  /** A MOVE-like operation: the first attempt does the work but its answer is lost; a retry then finds nothing to move. */
  function lostAnswer(): { op: (attempt: number) => Promise<void>; gone: Failure } {
    const gone = new Failure({ retry: false });
    return {
      gone,
      op: async (attempt) => {
        throw attempt === 1 ? new Failure({ retry: true }) : gone;
      },
    };
  }

  it('counts a failed retry as success when an earlier attempt did the work', async () => {
    const { op } = lostAnswer();
    let asked = 0;
    const done = async (): Promise<boolean> => (++asked, true);
    await expect(withRetry(orAlreadyDone(op, done), { policy: fast, classify })).resolves.toBeUndefined();
    expect(asked).toBe(1);
  });

  it("keeps the retry's error when the work is not done, and never asks after a first attempt", async () => {
    const { op, gone } = lostAnswer();
    await expect(withRetry(orAlreadyDone(op, async () => false), { policy: fast, classify })).rejects.toBe(gone);
    const once = new Failure({ retry: false });
    let asked = 0;
    const first = orAlreadyDone(async () => Promise.reject(once), async () => (++asked, true));
    await expect(withRetry(first, { policy: fast, classify })).rejects.toBe(once);
    expect(asked).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('1.5')).toBe(1500);
    const now = Date.parse('Sat, 21 Nov 2026 12:00:00 GMT');
    expect(parseRetryAfter('Sat, 21 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

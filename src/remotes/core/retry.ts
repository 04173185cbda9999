/**
 * Retries with exponential backoff and jitter, bounded in count and in total
 * time, honouring a server's Retry-After. Written once; each backend supplies
 * only how to classify its errors.
 */
import pRetry, { AbortError } from 'p-retry';
import type { RequestContext } from '../../protocol/contract.js';
import { endpointHealth, REPROBE_MS } from './endpoint-health.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** No new attempt starts after this much time has passed. */
  maxTotalMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 5,
  minDelayMs: 250,
  maxDelayMs: 10_000,
  maxTotalMs: 120_000,
};

/** How a backend sees one failure. */
export interface Verdict {
  retry: boolean;
  /** From Retry-After (429/503): wait at least this long before the next attempt. */
  retryAfterMs?: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  classify(err: unknown): Verdict;
  signal?: AbortSignal;
  /** Told before each retry, e.g. to send a DEBUG line. */
  onRetry?(info: { attempt: number; retriesLeft: number; error: unknown; delayMs: number }): void;
  /**
   * The server's URL (its origin is what counts): an endpoint found
   * unreachable fails the requests that follow at once (see endpoint-health).
   */
  endpoint?: string;
  /** Told once, when the first request is refused because the endpoint was found unreachable (an EndpointDownError). */
  onEndpointDown?(error: unknown): void;
}

/** Longest Retry-After we obey; a server asking for more gets reported instead. */
const MAX_RETRY_AFTER_MS = 60_000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Parses a Retry-After header (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

class FinalError extends Error {
  constructor(readonly original: unknown) {
    super('not retryable');
  }
}

export async function withRetry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, classify, signal, onRetry } = options;
  const health = options.endpoint === undefined ? undefined : endpointHealth(options.endpoint);
  try {
    return await pRetry(
      async (attempt) => {
        let probe = false;
        try {
          probe = health?.admit().probe ?? false;
        } catch (down) {
          // Said once, when a request is first refused for it: a lone failure (initremote) needs no second line.
          if (health?.takeAnnouncement()) options.onEndpointDown?.(down);
          throw new AbortError(new FinalError(down));
        }
        try {
          const result = await operation(attempt);
          health?.succeeded();
          return result;
        } catch (err) {
          if (signal?.aborted) throw new AbortError(new FinalError(signal.reason));
          if (health) {
            const seen = await health.failed(err, probe);
            if (seen.stop) throw new AbortError(new FinalError(seen.error ?? err));
          }
          const verdict = classify(err);
          if (!verdict.retry) throw new AbortError(new FinalError(err));
          if (verdict.retryAfterMs !== undefined && verdict.retryAfterMs > MAX_RETRY_AFTER_MS) {
            throw new AbortError(new FinalError(err));
          }
          // p-retry wants Error instances; keep the original inside.
          throw Object.assign(new Error('retryable'), { original: err, retryAfterMs: verdict.retryAfterMs });
        }
      },
      {
        retries: policy.retries,
        minTimeout: policy.minDelayMs,
        maxTimeout: policy.maxDelayMs,
        factor: 2,
        randomize: true,
        maxRetryTime: policy.maxTotalMs,
        signal,
        async shouldRetry({ error, attemptNumber, retriesLeft }) {
          const e = error as Error & { original?: unknown; retryAfterMs?: number };
          const wait = e.retryAfterMs ?? 0;
          onRetry?.({ attempt: attemptNumber, retriesLeft, error: e.original ?? e, delayMs: wait });
          if (wait > 0) await sleep(wait, signal);
          return true;
        },
      },
    );
  } catch (err) {
    const e = unwrap(err);
    health?.gaveUp(e);
    throw e;
  }
}

function unwrap(err: unknown): unknown {
  let e: unknown = err;
  for (let i = 0; i < 4; i++) {
    if (e instanceof AbortError) e = e.originalError;
    else if (e instanceof FinalError) e = e.original;
    else if (e instanceof Error && 'original' in e) e = (e as { original: unknown }).original;
    else break;
  }
  return e;
}

/**
 * For an operation that is not idempotent (a MOVE, completing a multipart
 * upload): when an attempt's answer is lost, its retry finds the work done
 * and fails (the source, or the upload, is gone). `done` tells whether an
 * earlier attempt did succeed; a retry that fails then counts as a success.
 */
export function orAlreadyDone(
  operation: (attempt: number) => Promise<void>,
  done: () => Promise<boolean>,
): (attempt: number) => Promise<void> {
  return async (attempt) => {
    try {
      await operation(attempt);
    } catch (err) {
      if (attempt > 1 && (await done())) return;
      throw err;
    }
  };
}

/**
 * A remote's request under its `retries=` setting: the default policy with that
 * count, stopped when git-annex goes away, each retry told to --debug with the
 * backend's own description of what went wrong.
 */
export function retryRequest<T>(
  operation: (attempt: number) => Promise<T>,
  r: {
    what: string;
    ctx: RequestContext;
    retries: number;
    classify(err: unknown): Verdict;
    describe(err: unknown): string;
    /** The server's URL: once it is found unreachable, the requests that follow fail at once. */
    endpoint?: string;
  },
): Promise<T> {
  return withRetry(operation, {
    policy: { ...DEFAULT_RETRY_POLICY, retries: r.retries },
    classify: r.classify,
    signal: r.ctx.signal,
    onRetry: ({ attempt, error }) => {
      void r.ctx.annex.debug(`retrying ${r.what} after attempt ${attempt}: ${r.describe(error)}`);
    },
    endpoint: r.endpoint,
    onEndpointDown: (error) => {
      const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
      void r.ctx.annex.info(
        `${r.describe(cause)}; the requests that follow fail at once, and it is tried again every ${REPROBE_MS / 1000} s`,
      );
    },
  });
}

/** A remote's requests retried under its settings: `retry(what, ctx, op)`. */
export type Retrier = <T>(what: string, ctx: RequestContext, op: (attempt: number) => Promise<T>) => Promise<T>;

/** The retry wrapper of a backend's store, written once: its retries=, error meanings and endpoint. */
export function retrier(r: {
  retries: number;
  classify(err: unknown): Verdict;
  describe(err: unknown, what: string): string;
  endpoint: string;
}): Retrier {
  return (what, ctx, op) =>
    retryRequest(op, { what, ctx, retries: r.retries, classify: r.classify, describe: (e) => r.describe(e, what), endpoint: r.endpoint });
}

/**
 * What this process knows of each endpoint's reachability, so that a server
 * that is down costs one failure, not a full retry budget per key: a copy of
 * 2,000 files to a stopped server must fail in seconds, not hours.
 *
 * - An endpoint never reached in this process (initremote, the first request
 *   of a run) that refuses the connection or does not resolve fails at once:
 *   nothing suggests it is coming back.
 * - One reached before gets the full retry policy (a server restarting);
 *   when that runs out on an unreachable error, the endpoint is marked down.
 * - While down, requests fail at once; after REPROBE_MS one request is let
 *   through as a probe: its success marks the endpoint up again.
 * - A plain http:// endpoint whose connections are reset is probed once with
 *   a TLS handshake: a server that speaks https there gets the fix named
 *   instead of a run of retries.
 * Written by hand: retry libraries (p-retry, undici's RetryAgent) bound each
 * request's attempts, but none keeps state across the requests of a process.
 */
import { connect as tlsConnect } from 'node:tls';
import { socketHost } from './hosts.js';
import { EndpointDownError, isConnectionReset, isUnreachable, PlainHttpToTlsError } from './net-errors.js';

/** How long an endpoint found down is not asked again. */
export const REPROBE_MS = 30_000;
const TLS_PROBE_TIMEOUT_MS = 3_000;

export class EndpointHealth {
  private reached = false;
  private down: { since: number; retryAt: number; reason: unknown } | undefined;
  /** When the current probe was let through; a probe that never reports back (aborted) expires. */
  private probingSince: number | undefined;
  private tls: Promise<boolean> | undefined;
  private announced = false;

  constructor(readonly endpoint: string) {}

  /** Before an attempt: throws when the endpoint is down and this attempt is not the probe. */
  admit(now = Date.now()): { probe: boolean } {
    const d = this.down;
    if (!d) return { probe: false };
    if (now < d.retryAt || (this.probingSince !== undefined && now - this.probingSince < REPROBE_MS)) {
      throw new EndpointDownError(this.endpoint, d.since, d.retryAt, { cause: d.reason });
    }
    this.probingSince = now;
    return { probe: true };
  }

  /** Anything but an unreachable error means the server was there. */
  succeeded(): void {
    this.reached = true;
    this.down = undefined;
    this.probingSince = undefined;
  }

  /**
   * After a failed attempt: whether to stop retrying now. Returns the error to
   * throw instead when there is a better one (a TLS port spoken to in plain http).
   */
  async failed(err: unknown, probe: boolean): Promise<{ stop: boolean; error?: unknown }> {
    if (probe) this.probingSince = undefined;
    if (isUnreachable(err)) {
      if (!this.reached || probe || this.down) {
        this.markDown(err);
        return { stop: true };
      }
      return { stop: false };
    }
    if (isConnectionReset(err) && this.endpoint.startsWith('http:') && (await this.speaksTls())) {
      this.markDown(new PlainHttpToTlsError(this.endpoint));
      return { stop: true, error: new PlainHttpToTlsError(this.endpoint) };
    }
    this.succeeded();
    return { stop: false };
  }

  /** Retries ran out: an unreachable endpoint is marked down. */
  gaveUp(err: unknown): void {
    if (!(err instanceof EndpointDownError) && isUnreachable(err)) this.markDown(err);
  }

  /** True once, the first time it is found down (to tell the user once). */
  takeAnnouncement(): boolean {
    if (!this.down || this.announced) return false;
    this.announced = true;
    return true;
  }

  private markDown(reason: unknown, now = Date.now()): void {
    this.down = { since: this.down?.since ?? now, retryAt: now + REPROBE_MS, reason };
    this.probingSince = undefined;
  }

  private speaksTls(): Promise<boolean> {
    this.tls ??= probeTls(this.endpoint);
    return this.tls;
  }
}

/** Whether a TLS handshake succeeds at the URL's host and port (certificate not checked: only the protocol matters). */
function probeTls(endpoint: string): Promise<boolean> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const host = socketHost(url.hostname);
    const socket = tlsConnect({ host, port: Number(url.port || 80), rejectUnauthorized: false, servername: host });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(TLS_PROBE_TIMEOUT_MS, () => done(false));
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const registry = new Map<string, EndpointHealth>();

/** The one record of an endpoint (its origin, e.g. http://127.0.0.1:9000) in this process. */
export function endpointHealth(endpoint: string): EndpointHealth {
  let origin = endpoint;
  try {
    origin = new URL(endpoint).origin;
  } catch {
    // Not a URL: keyed as given.
  }
  let h = registry.get(origin);
  if (!h) registry.set(origin, (h = new EndpointHealth(origin)));
  return h;
}

/** For tests: forget every endpoint. */
export function resetEndpointHealth(): void {
  registry.clear();
}

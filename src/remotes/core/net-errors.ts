/**
 * Network failures as Node, undici and the AWS SDK report them, told apart
 * from server answers: they are worth retrying, and the user needs to hear
 * which endpoint could not be reached and why.
 */

const CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the server running, and is the port right?)',
  ECONNRESET: 'the connection was reset by the server',
  EPIPE: 'the connection was closed by the server',
  ETIMEDOUT: 'the connection timed out',
  ENOTFOUND: 'the host name does not resolve (check it in the URL)',
  EAI_AGAIN: 'the host name could not be resolved (DNS failure: is this machine online?)',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ECONNABORTED: 'the connection was aborted',
  UND_ERR_SOCKET: 'the connection was closed unexpectedly',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server did not answer in time',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending data',
  ERR_STREAM_PREMATURE_CLOSE: 'the connection closed before the transfer finished',
};

/** TLS failures: described like network failures, but another attempt cannot help. */
const TLS_CODES: Record<string, string> = {
  EPROTO: 'the TLS handshake failed (does the server speak https on this port? try http://)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server\'s certificate is self-signed and not trusted (NODE_EXTRA_CA_CERTS can name a CA file to trust)',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server\'s certificate chain has an untrusted self-signed certificate (NODE_EXTRA_CA_CERTS can name a CA file to trust)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server\'s certificate cannot be verified (incomplete chain, or a CA that is not trusted)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server\'s certificate is issued by a CA that is not trusted (NODE_EXTRA_CA_CERTS can name a CA file to trust)',
  CERT_HAS_EXPIRED: 'the server\'s certificate has expired (renew it on the server; or is this machine\'s clock wrong?)',
  CERT_NOT_YET_VALID: 'the server\'s certificate is not valid yet (is this machine\'s clock wrong?)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server\'s certificate is for another host name',
};

/** Names of timeouts raised by the SDK's HTTP handler. */
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'ConnectTimeoutError', 'HeadersTimeoutError', 'BodyTimeoutError']);

function* causes(err: unknown): Generator<Record<string, unknown>> {
  let e: unknown = err;
  for (let i = 0; i < 5 && typeof e === 'object' && e !== null; i++) {
    yield e as Record<string, unknown>;
    e = (e as { cause?: unknown }).cause;
  }
}

/** A request not sent because its endpoint was found unreachable moments ago. */
export class EndpointDownError extends Error {
  override readonly name = 'EndpointDownError';
  constructor(
    readonly endpoint: string,
    readonly since: number,
    readonly retryAt: number,
    options: { cause: unknown },
  ) {
    super(`${endpoint} is unreachable`, options);
  }

  /** "unreachable for 4 s, next attempt in 26 s" */
  timing(now = Date.now()): string {
    const s = (ms: number): string => `${Math.max(0, Math.round(ms / 1000))} s`;
    return `not retried: unreachable for the last ${s(now - this.since)}, next attempt in ${s(this.retryAt - now)}`;
  }
}

/** An http:// URL for a port that speaks TLS. */
export class PlainHttpToTlsError extends Error {
  override readonly name = 'PlainHttpToTlsError';
  constructor(readonly endpoint: string) {
    super(
      `${endpoint} speaks https on this port, and plain http was sent: use ${endpoint.replace(/^http:/, 'https:')} instead`,
    );
  }
}

/** The server sent fewer (or more) bytes than it announced: the connection was cut mid-body. */
export class IncompleteTransferError extends Error {
  override readonly name = 'IncompleteTransferError';
  constructor(expected: number, got: number) {
    super(`the transfer was cut short: expected ${expected} bytes, got ${got}`);
  }
}

/** A plain-words description of a network failure, or undefined when it is something else. */
export function networkProblem(err: unknown, where: string): string | undefined {
  for (const e of causes(err)) {
    if (e instanceof PlainHttpToTlsError) return `cannot talk to ${where}: ${e.message}`;
    if (e instanceof EndpointDownError) {
      const reason = networkProblem(e.cause, where) ?? `cannot reach ${where}`;
      return e.cause instanceof PlainHttpToTlsError ? reason : `${reason}; ${e.timing()}`;
    }
    if (e instanceof IncompleteTransferError) return `${where ? `${where}: ` : ''}${e.message}`;
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (code && CODES[code]) return `cannot reach ${where}: ${CODES[code]}`;
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `cannot connect securely to ${where}: ${wrongHostName(e)}`;
    if (code && TLS_CODES[code]) return `cannot connect securely to ${where}: ${TLS_CODES[code]}`;
    if (typeof e.name === 'string' && TIMEOUT_NAMES.has(e.name) && !('$metadata' in e && (e.$metadata as { httpStatusCode?: number })?.httpStatusCode)) {
      return `no answer from ${where} in time (timed out)`;
    }
    if (typeof e.message === 'string' && /socket hang up/i.test(e.message)) {
      return `cannot reach ${where}: the connection was closed unexpectedly`;
    }
  }
  return undefined;
}

/**
 * Node says which names the certificate has ("Host: a. is not in the cert's
 * altnames: DNS:b, DNS:c"): the fix is to use one of them in the URL.
 */
function wrongHostName(e: Record<string, unknown>): string {
  const reason = typeof e.reason === 'string' ? e.reason : '';
  const host = typeof e.host === 'string' ? e.host : undefined;
  const names = /(?:altnames|list): (.*)$/.exec(reason)?.[1]?.replace(/\b(?:DNS|IP Address):/g, '').trim();
  const subject = names || (e.cert as { subject?: { CN?: string } } | undefined)?.subject?.CN;
  return subject
    ? `the server's certificate is for ${subject}${host ? `, not ${host}` : ''}: use a name the certificate has in the URL (or have the certificate cover ${host ?? 'this name'})`
    : `${TLS_CODES.ERR_TLS_CERT_ALTNAME_INVALID}: use the name the certificate is for in the URL`;
}

/** Codes that say the endpoint itself cannot be reached (as opposed to a connection cut mid-request). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Codes of a connection the server (or something on the way) closed on us. */
const RESET = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

const codes = (err: unknown): string[] => [...causes(err)].map((e) => e.code).filter((c): c is string => typeof c === 'string');

export function isUnreachable(err: unknown): boolean {
  return codes(err).some((c) => UNREACHABLE.has(c));
}

export function isConnectionReset(err: unknown): boolean {
  if (codes(err).some((c) => RESET.has(c))) return true;
  for (const e of causes(err)) if (typeof e.message === 'string' && /socket hang up/i.test(e.message)) return true;
  return false;
}

function isTlsFailure(err: unknown): boolean {
  for (const e of causes(err)) if (typeof e.code === 'string' && TLS_CODES[e.code]) return true;
  return false;
}

export function isRetryableNetworkError(err: unknown): boolean {
  for (const e of causes(err)) if (e instanceof EndpointDownError || e instanceof PlainHttpToTlsError) return false;
  return networkProblem(err, '') !== undefined && !isTlsFailure(err);
}
